import { Transform } from 'node:stream';

/** A streamed file over its size limit (the card load file, from the API or from the console). */
export class FileTooLarge extends Error {}

/** Passes bytes through until `max`, then fails with FileTooLarge: fastify's bodyLimit does not apply to a streamed body. */
export function byteLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(new FileTooLarge(`the file is larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}
