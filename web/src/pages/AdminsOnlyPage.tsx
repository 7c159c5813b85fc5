import { Page } from '../components/Page';

/** What a signed-in user who is not an admin sees at an admin page's path. */
export function AdminsOnlyPage({ title }: { title: string }) {
  return (
    <Page title={title} narrow>
      <p className="lead" data-testid="admins-only">
        The {title} page is for admins. An operator can grant the role with <code>mom admin grant EMAIL</code>.
      </p>
    </Page>
  );
}
