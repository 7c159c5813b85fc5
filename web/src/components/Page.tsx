import { useEffect, useRef, type ReactNode } from 'react';

let firstPage = true;

/** Sets the document title and, after in-app navigation, moves focus to the page heading. */
export function Page({ title, heading, actions, children, narrow }: { title: string; heading?: ReactNode; actions?: ReactNode; children: ReactNode; narrow?: boolean }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · mom`;
    if (firstPage) firstPage = false;
    else h1.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <div className={`page${narrow ? ' page-narrow' : ''}`}>
      <div className="page-head">
        <h1 ref={h1} tabIndex={-1}>
          {heading ?? title}
        </h1>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
      {children}
    </div>
  );
}
