// Stopping what the suite started, and nothing else: a process group started detached, plus every
// descendant found through /proc (a child may have moved to a group of its own).
import { readdirSync, readFileSync } from 'node:fs';

/** Every live descendant of `rootPid`, read from /proc (Linux). */
export function descendants(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(Number(name));
    if (ppid === undefined) continue;
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const found = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The command line of `pid` (empty when it is gone). */
export function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops the process group led by `pid` (started with `detached: true`) and all its descendants:
 * SIGTERM, then SIGKILL for whatever is still there after `graceMs`.
 */
export async function stopProcessTree(pid, graceMs = 3000) {
  const tree = [pid, ...descendants(pid)];
  signal(-pid, 'SIGTERM');
  for (const p of tree) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && tree.some(alive)) await new Promise((r) => setTimeout(r, 100));
  const left = tree.filter(alive);
  signal(-pid, 'SIGKILL');
  for (const p of left) signal(p, 'SIGKILL');
  return left.length;
}

/** The synchronous last resort, for `process.on('exit')` and signal handlers. */
export function killProcessTreeNow(pid) {
  const tree = [pid, ...descendants(pid)];
  signal(-pid, 'SIGKILL');
  for (const p of tree) signal(p, 'SIGKILL');
}

/** Kills every process this one started (code-server, the language server, Chromium), at once. */
export function killOwnDescendantsNow() {
  for (const pid of descendants(process.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
