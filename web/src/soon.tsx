// /publish, /voice/<room> and /admin until their issues land: an honest placeholder that says
// what the page will do and what to use meanwhile.
import { pathName } from './format';
import { Layout, mount } from './ui';

export type SoonPage = 'publish' | 'voice' | 'admin';

const TEXT: Record<SoonPage, { title: string; what: string; meanwhile: string }> = {
  publish: {
    title: 'Publish',
    what: 'Publishing from the browser (camera or screen, over WHIP) is coming to this page.',
    meanwhile: 'Meanwhile, publish with OBS or ffmpeg to rtmp://HOST/live/<stream key>, or with any WHIP client to /whip.',
  },
  voice: {
    title: 'Voice room',
    what: 'Voice rooms are coming to this page.',
    meanwhile: 'The voice server is being built; nothing to join yet.',
  },
  admin: {
    title: 'Admin',
    what: 'The admin console (users, streams, recordings, health) is coming to this page.',
    meanwhile: 'Meanwhile, the JSON API under /api does all of it: /api/openapi.json describes every route.',
  },
};

export function soon(page: SoonPage): void {
  const t = TEXT[page];
  const room = page === 'voice' ? pathName('/voice/') : null;
  mount(
    <Layout page={page}>
      <section class="panel" aria-labelledby="soon-h">
        <h1 id="soon-h">
          {t.title}
          {room !== null ? `: ${room}` : ''}
        </h1>
        <p data-testid="coming-soon">{t.what}</p>
        <p class="muted">{t.meanwhile}</p>
        <p>
          <a href="/">See what is live</a>
        </p>
      </section>
    </Layout>,
  );
}
