import { JobForm } from '../components/JobForm';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import { navigate } from '../lib/router';
import type { Job } from '../lib/types';
import { usePanel } from '../state/PanelState';

export function NewJobPage() {
  const { api, jobs, toasts } = usePanel();
  const onCreated = (raw: Job) => {
    const job = jobs.add(raw);
    navigate('/jobs');
    toasts.push({ kind: 'info', title: `Job #${job.id} ordered`, body: `${job.stepsTotal} ${job.stepsTotal === 1 ? 'step is' : 'steps are'} on the queue.` });
  };
  return (
    <Page title="New job" heading="Order a math job" actions={<Link className="btn btn-secondary" to="/jobs">My jobs</Link>}>
      <p className="lead">
        Each step is a message on the queue. A math worker takes it, calls the (deliberately slow) math service, and you watch the result arrive live.
      </p>
      <JobForm submit={(details, key) => api.createJob(details, key)} onCreated={onCreated} />
    </Page>
  );
}
