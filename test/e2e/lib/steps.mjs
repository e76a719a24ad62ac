import { rmSync } from 'node:fs';

/**
 * Test bodies that save a screenshot of the moment they fail, and remember that something failed
 * (so that the suite keeps its run folder for inspection).
 */
export function failureTracker(currentWorkbench) {
  const tracker = {
    failed: false,
    step(name, body) {
      return async () => {
        try {
          await body();
        } catch (error) {
          tracker.failed = true;
          await currentWorkbench()?.screenshot(`${name}-FAILED`).catch(() => undefined);
          throw error;
        }
      };
    },
  };
  return tracker;
}

/**
 * A suite's end: close the browser, stop code-server and what it started (`stop` returns how many
 * processes needed SIGKILL), and keep the run folder only when a test failed.
 */
export async function endSuite({ workbench, stop, tracker, runDir, screenshotsDir }) {
  await workbench?.close().catch(() => undefined);
  const killed = await stop();
  if (killed) console.log(`# ${killed} process(es) needed SIGKILL`);
  if (tracker.failed) console.log(`# kept the run folder for inspection: ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
  console.log(`# screenshots: ${screenshotsDir}`);
}
