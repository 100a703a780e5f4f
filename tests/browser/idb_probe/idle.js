// An idle nested worker (the app's worker has one: the verifier pool); it ticks so it is not idle-collected.
setInterval(() => postMessage('tick'), 200);
