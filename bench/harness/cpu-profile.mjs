// Preloaded with NODE_OPTIONS="--import <this file>" (Node 20 refuses --cpu-prof in NODE_OPTIONS):
// profiles the whole process with the in-process inspector, the same V8 CPU profiler that
// `node --cpu-prof` uses, and writes CPU_PROF_DIR/<pid>.cpuprofile when the process exits.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // In-process inspector sessions answer synchronously, so this completes inside 'exit'.
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
