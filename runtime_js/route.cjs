'use strict';
// Where a call made outside execute() runs. On the main thread's own instance,
// as a rule: no round trip, and the objects and JS values it makes stay there.
// But under the contracts whose pool lives in the memory every instance shares
// (Rayon's global pool, a pool kept in a static: contracts/), a parallel export
// called there while the pool is up runs its jobs on the pool's threads, and
// the main thread waits for them inside wasm, where nothing can watch it: a
// pool thread that panics under panic=abort then leaves it waiting forever.
//
// So the patch marks each glue function that calls an export which can wait
// for another thread (wbg_patch/wasm/waits.py): it calls enter() first and
// leave() last. While such a pool is up, enter() routes the whole function
// (its allocations, its JS values, its result) to the pool's host, as inside
// execute(): synchronous, watched, with the same typed failures, reset and
// recovery. Exports that cannot wait stay on the main thread, as fast as ever.
// The route holds for the function's body only: the glue's helpers called from
// it (strings, JS value slots) follow it; code after it runs locally again.

// The handle's members that route: `state.route` is what the glue reads as
// `wasm` while a routed function runs (null: the main thread's own exports).
function routeMembers(state) {
  // The engine's: (name) => the `wasm` of one call outside execute() of export
  // `name` on the pool that is up, or null while none is.
  let router = null;
  const members = {
    setOutsideRouter(value) {
      router = value;
    },
    // First in a wrapper of an export that can wait: returns the route it replaced.
    enter(name) {
      const previous = state.route;
      state.route = router === null ? null : router(name);
      return previous;
    },
    // Last in that wrapper, however it leaves.
    leave(previous) {
      state.route = previous;
    },
    // An arrow function's expression body that calls export `name`, between the two.
    routed(name, body) {
      const previous = members.enter(name);
      try {
        return body();
      } finally {
        members.leave(previous);
      }
    },
  };
  return members;
}

module.exports = { routeMembers };
