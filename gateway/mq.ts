import mqemitter, { type MQEmitter } from 'mqemitter';

/**
 * The embedded broker's message bus: mqemitter, as aedes would make it, with its recursion bounded.
 *
 * mqemitter delivers at most `concurrency` messages at once and queues the rest; each delivery that ends
 * takes the next queued message at once, on the same stack. When deliveries end synchronously (a topic
 * nobody follows, such as the replies to terminals that have gone; a handler that calls back at once), a
 * long queue is drained by recursion, and past some thousands of messages the stack overflows: the gateway
 * crashed so at the end of the online-debit bench. Here a queued message taken more than `maxDepth` levels
 * deep is taken on the next tick instead, which unwinds the stack and keeps every message, in order
 * relative to the queue. Shallow deliveries stay synchronous, as they were.
 */
export function boundedEmitter(concurrency: number, maxDepth = 64): MQEmitter {
  const mq = mqemitter({ concurrency });
  // `_do` is mqemitter's own step (take one message, deliver it); `released` calls it through the instance.
  const inner = mq as unknown as { _do(message: unknown, callback: unknown): unknown };
  const step = inner._do.bind(mq);
  let depth = 0;
  inner._do = (message, callback) => {
    if (depth >= maxDepth) {
      process.nextTick(() => inner._do(message, callback));
      return mq;
    }
    depth++;
    try {
      return step(message, callback);
    } finally {
      depth--;
    }
  };
  return mq;
}
