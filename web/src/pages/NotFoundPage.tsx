import { Link } from '../components/Link';
import { Page } from '../components/Page';

export function NotFoundPage() {
  return (
    <Page title="Page not found" narrow>
      <p className="lead">There is nothing at this address.</p>
      <p>
        <Link className="btn btn-primary" to="/jobs">
          Go to my jobs
        </Link>
      </p>
    </Page>
  );
}
