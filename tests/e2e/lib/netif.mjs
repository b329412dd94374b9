// A non-loopback IPv4 address made for one test file and removed after it. WebRTC stacks we
// did not write (Chromium, GStreamer's webrtcbin) neither gather nor use loopback candidates,
// so the server's --rtc must be bound to an address on a non-loopback interface. Traffic
// between two local addresses never leaves the host, so any local interface will do.
//
// makeNetif() tries a dummy interface first, then a veth pair (both ends in this namespace,
// the address on one end: some kernels are built without the dummy driver). The name is unique
// per run (kbt + pid + a counter, max 15 chars) and so is the address (10.213.X.Y/32, picked
// among those no interface holds). It returns null with the reason in `skip` when the
// interface cannot be made (not root, no `ip`, no driver): the caller marks its tests skipped.
import { execFileSync } from 'node:child_process';

let counter = 0;
const live = new Set();

function ip(...args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 }).toString();
}

function errText(e) {
  return (e.stderr ? e.stderr.toString().trim() : '') || e.message;
}

function usedAddresses() {
  try {
    return new Set([...ip('-4', '-o', 'addr', 'show').matchAll(/inet (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]));
  } catch { return new Set(); }
}

function remove(name) {
  try { ip('link', 'del', name); } catch { /* already gone */ }
  live.delete(name);
}

// Whatever is still up when the process ends (a failed test that never reached its after hook,
// a signal) is removed here; the kernel removes a veth's peer with it.
function removeAll() { for (const n of [...live]) remove(n); }
process.on('exit', removeAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { removeAll(); process.kill(process.pid, sig); });
}

// Returns { name, addr, kind, remove() } or { skip: 'why' }.
export function makeNetif() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { skip: 'needs root to add a network interface (ip link add)' };
  }
  try { ip('-V'); } catch (e) { return { skip: `no usable "ip" command: ${errText(e)}` }; }
  const used = usedAddresses();
  let addr;
  for (let i = 0; i < 200 && !addr; i++) {
    const a = `10.213.${(process.pid + i * 7) % 250 + 1}.${(counter * 13 + i) % 250 + 1}`;
    if (!used.has(a)) addr = a;
  }
  if (!addr) return { skip: 'no free 10.213.x.y address' };
  const name = `kbt${process.pid.toString(36)}${counter++}`.slice(0, 13);
  const errors = [];
  for (const kind of ['dummy', 'veth']) {
    try {
      if (kind === 'dummy') ip('link', 'add', name, 'type', 'dummy');
      else ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
      live.add(name);
      ip('addr', 'add', `${addr}/32`, 'dev', name);
      ip('link', 'set', name, 'up');
      if (kind === 'veth') ip('link', 'set', `${name}p`, 'up');
      return { name, addr, kind, remove: () => remove(name) };
    } catch (e) {
      errors.push(`${kind}: ${errText(e)}`);
      remove(name);
    }
  }
  return { skip: `cannot make a network interface (${errors.join('; ')})` };
}
