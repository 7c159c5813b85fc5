import { useState, type FormEvent } from 'react';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { TextField } from '../components/TextField';
import { Api, ApiError } from '../lib/api';
import type { LoginObject } from '../lib/types';
import type { Flash } from '../state/session';
import { checkEmail, flattenServerErrors, sentence } from '../lib/validation';


interface Props {
  api: Api;
  flash: Flash | null;
  initialEmail?: string;
  onLoggedIn(login: LoginObject): void;
}

type Errors = Partial<Record<'email' | 'password' | 'form', string>>;

export function LoginPage({ api, flash, initialEmail, onLoggedIn }: Props) {
  const [email, setEmail] = useState(initialEmail ?? '');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const errs: Errors = {};
    const emailErr = checkEmail(email);
    if (emailErr) errs.email = emailErr;
    if (!password) errs.password = 'Enter your password.';
    setErrors(errs);
    if (errs.email || errs.password) {
      document.getElementById(errs.email ? 'login-email' : 'login-password')?.focus();
      return;
    }
    setBusy(true);
    try {
      const login = await api.login({ email: email.trim(), password });
      onLoggedIn(login);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setErrors({ form: 'Wrong email or password.' });
      else if (err instanceof ApiError && err.status === 400) {
        const fe = flattenServerErrors(err.body);
        setErrors({
          email: fe.email?.map(sentence).join(' '),
          password: fe.password?.map(sentence).join(' '),
          form: Object.keys(fe).some((k) => k !== 'email' && k !== 'password') ? 'Please check the form.' : undefined,
        });
      } else if (err instanceof ApiError && err.isUnavailable) setErrors({ form: 'The service is unavailable right now. Please try again in a moment.' });
      else setErrors({ form: err instanceof Error ? err.message : 'Signing in failed.' });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Sign in" narrow>
      <p className="lead">Order math jobs and watch them run across the queues.</p>
      {flash && (
        <div className={`alert alert-${flash.kind}`} role={flash.kind === 'error' ? 'alert' : 'status'} data-testid="flash">
          {flash.text}
        </div>
      )}
      <form className="card auth-form" noValidate onSubmit={onSubmit} aria-label="Sign in">
        <TextField
          id="login-email"
          label="Email"
          type="email"
          autoComplete="username"
          value={email}
          error={errors.email}
          onChange={(e) => {
            setEmail(e.target.value);
            if (errors.email) setErrors({ ...errors, email: undefined });
          }}
        />
        <TextField
          id="login-password"
          label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          error={errors.password}
          onChange={(e) => {
            setPassword(e.target.value);
            if (errors.password) setErrors({ ...errors, password: undefined });
          }}
        />
        {errors.form && (
          <div className="alert alert-error" role="alert" data-testid="login-error">
            {errors.form}
          </div>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="auth-switch">
        New here? <Link to="/register">Create an account</Link>
      </p>
    </Page>
  );
}
