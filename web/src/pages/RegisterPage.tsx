import { useState, type FormEvent } from 'react';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { TextField } from '../components/TextField';
import { Api, ApiError, SubmitKey } from '../lib/api';
import type { SafeUser } from '../lib/types';
import { checkEmail, flattenServerErrors, sentence } from '../lib/validation';

type FieldName = 'firstName' | 'lastName' | 'email' | 'password';
type Errors = Partial<Record<FieldName | 'form', string>>;
const FIELDS: FieldName[] = ['firstName', 'lastName', 'email', 'password'];

interface Props {
  api: Api;
  onRegistered(user: SafeUser): void;
}

export function RegisterPage({ api, onRegistered }: Props) {
  const [values, setValues] = useState<Record<FieldName, string>>({ firstName: '', lastName: '', email: '', password: '' });
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [submitKey] = useState(() => new SubmitKey());

  const set = (name: FieldName, value: string) => {
    setValues((v) => ({ ...v, [name]: value }));
    if (errors[name]) setErrors((e) => ({ ...e, [name]: undefined }));
  };

  const validate = (): Errors => {
    const e: Errors = {};
    if (!values.firstName.trim()) e.firstName = 'Enter your first name.';
    if (!values.lastName.trim()) e.lastName = 'Enter your last name.';
    e.email = checkEmail(values.email);
    if (!values.password) e.password = 'Choose a password.';
    return e;
  };

  const focusFirst = (e: Errors) => {
    const first = FIELDS.find((f) => e[f]);
    if (first) document.getElementById(`register-${first}`)?.focus();
  };

  const onSubmit = async (ev: FormEvent) => {
    ev.preventDefault();
    const e = validate();
    setErrors(e);
    if (FIELDS.some((f) => e[f])) {
      focusFirst(e);
      return;
    }
    setBusy(true);
    try {
      const input = {
        firstName: values.firstName.trim(),
        lastName: values.lastName.trim(),
        email: values.email.trim(),
        password: values.password,
      };
      const user = await api.register(input, submitKey.for(input));
      submitKey.reset();
      onRegistered(user);
    } catch (err) {
      let next: Errors;
      if (err instanceof ApiError && err.status === 409) next = { email: err.serverMessage ?? 'Email is already used.' };
      else if (err instanceof ApiError && err.status === 400) {
        const fe = flattenServerErrors(err.body);
        next = {};
        const other: string[] = [];
        for (const [path, msgs] of Object.entries(fe)) {
          const text = msgs.map(sentence).join(' ');
          if ((FIELDS as string[]).includes(path)) next[path as FieldName] = text;
          else other.push(text);
        }
        if (other.length) next.form = other.join(' ');
      } else if (err instanceof ApiError && err.isUnavailable) next = { form: 'The service did not answer, so you may not be registered yet. Trying again is safe.' };
      else next = { form: err instanceof Error ? err.message : 'Registration failed.' };
      setErrors(next);
      focusFirst(next);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Create an account" narrow>
      <p className="lead">It takes a few seconds. You will sign in right after.</p>
      <form className="card auth-form" noValidate onSubmit={onSubmit} aria-label="Create an account">
        <div className="field-row">
          <TextField id="register-firstName" label="First name" autoComplete="given-name" value={values.firstName} error={errors.firstName} onChange={(e) => set('firstName', e.target.value)} />
          <TextField id="register-lastName" label="Last name" autoComplete="family-name" value={values.lastName} error={errors.lastName} onChange={(e) => set('lastName', e.target.value)} />
        </div>
        <TextField id="register-email" label="Email" type="email" autoComplete="email" value={values.email} error={errors.email} onChange={(e) => set('email', e.target.value)} />
        <TextField
          id="register-password"
          label="Password"
          type="password"
          autoComplete="new-password"
          value={values.password}
          error={errors.password}
          onChange={(e) => set('password', e.target.value)}
        />
        {errors.form && (
          <div className="alert alert-error" role="alert">
            {errors.form}
          </div>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="register-submit">
          {busy ? 'Creating account…' : 'Create account'}
        </button>
      </form>
      <p className="auth-switch">
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </Page>
  );
}
