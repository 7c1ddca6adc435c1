import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between a terminal and its broker, for partition tests: `cut()` drops every connection at
 * once and refuses new ones (as a dead network does) until `heal()`. 127.0.0.1 only.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #refusing = false;
  cuts = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.#accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  #accept(client: Socket, targetPort: number): void {
    if (this.#refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** The network dies: every byte in flight is lost, and nobody connects until `heal()`. */
  cut(): void {
    this.cuts++;
    this.#refusing = true;
    for (const s of this.#sockets) s.destroy();
  }

  heal(): void {
    this.#refusing = false;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
