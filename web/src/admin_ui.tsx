// Small pieces the /admin sections share: a two-step confirmation for destructive buttons, the
// error sentence, polling, and the figures' formats.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** "Could not delete the user bob: the user is the last admin." from an API error. */
export function sentence(what: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const m = msg.replace(/\.$/, '');
  return `Could not ${what}: ${m.charAt(0).toLowerCase()}${m.slice(1)}.`;
}

export function ErrorLine(props: { text: string | null; testid?: string }) {
  if (!props.text) return null;
  return (
    <p class="error" role="alert" data-testid={props.testid}>
      {props.text}
    </p>
  );
}

/**
 * A destructive button: the first press asks ("Delete bob? Yes, delete / Cancel"), with the
 * focus on Cancel; only "Yes" acts. Cancel or Escape puts the focus back on the button.
 */
export function Confirm(props: {
  label: string;
  question: string;
  yes: string;
  onYes: () => Promise<void> | void;
  testid?: string;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) cancel.current?.focus();
  }, [asking]);
  if (!asking)
    return (
      <button type="button" class="danger" ref={opener} data-testid={props.testid} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  return (
    <span
      class="confirm"
      role="group"
      aria-label={props.question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          setAsking(false);
          setTimeout(() => opener.current?.focus(), 0);
        }
      }}
    >
      <span>{props.question}</span>
      <button
        type="button"
        class="danger solid"
        disabled={busy}
        data-testid={props.testid ? `${props.testid}-yes` : undefined}
        onClick={async () => {
          setBusy(true);
          try {
            await props.onYes();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        {props.yes}
      </button>
      <button
        type="button"
        ref={cancel}
        class="plain"
        onClick={() => {
          setAsking(false);
          setTimeout(() => opener.current?.focus(), 0);
        }}
      >
        Cancel
      </button>
    </span>
  );
}

/** Calls fn now and every ms until the component goes; fn's errors are its own business. */
export function usePoll(fn: () => Promise<void>, ms: number, deps: unknown[] = []): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const tick = async () => {
      try {
        await latest.current();
      } catch {
        /* shown by fn */
      }
      if (!stopped) timer = window.setTimeout(tick, ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

export function Section(props: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section class="panel" aria-labelledby={`${props.id}-h`} data-testid={`section-${props.id}`}>
      <h2 id={`${props.id}-h`}>{props.title}</h2>
      {props.children}
    </section>
  );
}

export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} kB`;
  return `${n} B`;
}

export function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function when(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
