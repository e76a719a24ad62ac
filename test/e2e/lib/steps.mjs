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
