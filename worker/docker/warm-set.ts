import type { WarmFunctions } from '../../src/ports/job-bus.ts';

/**
 * A pool's warm functions as the bus sees them (WarmFunctions), from the pool's own `list` and
 * `has`; `changed()` tells the listeners, only when the list is not what it was.
 */
export function warmSet(list: () => string[], has: (functionId: string) => boolean): { warm: WarmFunctions; changed(): void } {
  const listeners = new Set<() => void>();
  let before = '';
  return {
    warm: {
      has,
      list,
      onChange(listener) {
        const own = () => listener();
        listeners.add(own);
        return () => listeners.delete(own);
      },
    },
    changed() {
      const now = list().sort().join(',');
      if (now === before) return;
      before = now;
      for (const listener of [...listeners]) {
        try {
          listener();
        } catch {}
      }
    },
  };
}
