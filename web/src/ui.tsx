// What every page shares: the header with the navigation, and mounting a page.
import type { ComponentChildren, VNode } from 'preact';
import { render } from 'preact';
import './style.css';

type Page = 'live' | 'watch' | 'publish' | 'voice' | 'admin';

const NAV: [Page, string, string][] = [
  ['live', 'Live now', '/'],
  ['publish', 'Publish', '/publish'],
  ['admin', 'Admin', '/admin'],
];

export function Layout(props: { page: Page; children: ComponentChildren }) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          kibitka
        </a>
        <nav aria-label="Pages">
          <ul>
            {NAV.map(([id, label, href]) => (
              <li key={id}>
                <a href={href} aria-current={props.page === id ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

export function mount(node: VNode): void {
  const root = document.getElementById('app');
  if (root) {
    root.textContent = '';
    render(node, root);
  }
}
