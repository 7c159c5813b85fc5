import { JobForm } from '../components/JobForm';
import { Link } from '../components/Link';
import { Page } from '../components/Page';
import type { Api } from '../lib/api';
import type { Job } from '../lib/types';

export function NewJobPage({ api, onCreated }: { api: Api; onCreated(job: Job): void }) {
  return (
    <Page title="New job" heading="Order a math job" actions={<Link className="btn btn-secondary" to="/jobs">My jobs</Link>}>
      <p className="lead">
        Each step is a message on the queue. A math worker takes it, calls the (deliberately slow) math service, and you watch the result arrive live.
      </p>
      <JobForm submit={(details, key) => api.createJob(details, key)} onCreated={onCreated} />
    </Page>
  );
}
