// Rate-limits a stream of progress values to what a person can see: a fetch reports after every
// block (80 or more a second on loopback), and each report re-renders the page and crosses to the
// other tabs, CPU the transfer itself could use.

/**
 * Passes the first value at once, then at most one value every `ms`: the latest one, when its
 * interval ends, so the last value of a burst is never lost. A value `isFinal` says ends a run (a
 * fetch that completed) is passed at once, as is anything after it.
 */
export function throttleLatest<T>(
  fn: (value: T) => void,
  ms: number,
  isFinal: (value: T) => boolean,
): (value: T) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let waiting: { value: T } | undefined;
  const open = () => {
    timer = setTimeout(() => {
      timer = undefined;
      if (!waiting) return;
      const { value } = waiting;
      waiting = undefined;
      fn(value);
      open();
    }, ms);
  };
  return (value) => {
    if (isFinal(value)) {
      clearTimeout(timer);
      timer = undefined;
      waiting = undefined;
      fn(value);
      return;
    }
    if (timer !== undefined) {
      waiting = { value };
      return;
    }
    fn(value);
    open();
  };
}
