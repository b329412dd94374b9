// What /publish sends: a camera or the screen, plus a microphone (or none), and the words for
// what can go wrong getting them.

export type Source = 'camera' | 'screen';

export interface Device {
  id: string;
  label: string;
}

export interface Devices {
  cameras: Device[];
  mics: Device[];
}

/** The cameras and microphones; their labels are empty until a permission is granted. */
export async function listDevices(): Promise<Devices> {
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
  const pick = (kind: MediaDeviceKind, word: string) =>
    all
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${word} ${i + 1}` }));
  return { cameras: pick('videoinput', 'Camera'), mics: pick('audioinput', 'Microphone') };
}

/** Camera (or screen) and microphone in one stream. mic '' means no microphone. */
export async function getMedia(source: Source, camera: string, mic: string): Promise<MediaStream> {
  const audio: MediaTrackConstraints | false =
    mic === '' ? false : { deviceId: mic === 'default' ? undefined : { exact: mic }, echoCancellation: true };
  if (source === 'camera') {
    return navigator.mediaDevices.getUserMedia({
      video: {
        deviceId: camera ? { exact: camera } : undefined,
        width: { ideal: 1280 },
        height: { ideal: 720 },
        frameRate: { ideal: 30 },
      },
      audio,
    });
  }
  if (!navigator.mediaDevices.getDisplayMedia) throw new DOMException('no screen capture', 'NotSupportedError');
  const screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 30 } }, audio: false });
  if (!audio) return screen;
  try {
    const m = await navigator.mediaDevices.getUserMedia({ audio });
    return new MediaStream([...screen.getVideoTracks(), ...m.getAudioTracks()]);
  } catch (e) {
    screen.getTracks().forEach((t) => t.stop());
    throw e;
  }
}

export function stopMedia(m: MediaStream | null): void {
  m?.getTracks().forEach((t) => t.stop());
}

/** What to tell the person when getUserMedia or getDisplayMedia failed. */
export function mediaErrorText(e: unknown, source: Source): string {
  const name = e instanceof DOMException || e instanceof Error ? e.name : '';
  const what = source === 'camera' ? 'camera and microphone' : 'screen and microphone';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Access to the ${what} was denied. Allow it for this site in the browser (the icon in the address bar or the site settings), then press Preview again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${source === 'camera' ? 'camera or microphone' : 'microphone'} was found that matches the choice. Pick another device.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} could not be started: another program may be using it.`;
    case 'NotSupportedError':
      return 'This browser cannot capture the screen.';
    default:
      return `The ${what} could not be started (${e instanceof Error ? e.message : String(e)}).`;
  }
}
