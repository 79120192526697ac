// What the test scripts share: a check that fails the run with what went
// wrong, and the way a run ends ("ok" and exit 0, or "FAIL: ..." and
// exit 1), which the Go tests read.

export function check(cond, what) {
  if (!cond) {
    throw new Error(what);
  }
}

export function run(main) {
  main().then(
    () => {
      console.log("ok");
      process.exit(0);
    },
    (err) => {
      console.log(`FAIL: ${err?.message ?? err}`);
      process.exit(1);
    },
  );
}
