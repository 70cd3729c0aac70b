// A stand-in for a user's scientific workflow in the demo: works for a moment, then exits with
// the status given on the command line (or dies of a signal), like real runs do.
const [, , exitArg = '0', msArg = '50'] = process.argv;
await new Promise((r) => setTimeout(r, Number(msArg)));
if (exitArg === 'SIGTERM') process.kill(process.pid, 'SIGTERM');
else process.exitCode = Number(exitArg);
