import type { FastifyReply } from 'fastify';

/**
 * A download (CSV, XML): sent as bytes, so fastify's JSON serializer never touches it, with a filename
 * reduced to safe characters since it goes into a header.
 */
export function sendFile(reply: FastifyReply, mediaType: string, filename: string, text: string): FastifyReply {
  return reply
    .header('content-type', `${mediaType}; charset=utf-8`)
    .header('content-disposition', `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
    .send(Buffer.from(text, 'utf8'));
}
