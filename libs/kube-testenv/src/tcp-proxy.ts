/**
 * A TCP proxy in front of the API server that a test can cut: `cut()` resets every open connection
 * and refuses new ones until `restore()`. It stands for a network partition between one client and
 * the API server while the server itself keeps running (other clients, such as kubectl, keep working).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private cutOff = false;
  /** The port clients connect to on 127.0.0.1 (0 until started). */
  port = 0;

  private constructor(private readonly targetPort: number) {
    this.server = createServer((incoming) => this.forward(incoming));
  }

  /** Listens on a free 127.0.0.1 port and forwards every connection to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    proxy.port = await new Promise<number>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve((proxy.server.address() as { port: number }).port));
    });
    return proxy;
  }

  /** Resets every open connection and refuses new ones. */
  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  /** Lets connections through again. */
  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(incoming: Socket): void {
    if (this.cutOff) {
      incoming.resetAndDestroy();
      return;
    }
    const outgoing = connect(this.targetPort, '127.0.0.1');
    this.sockets.add(incoming);
    this.sockets.add(outgoing);
    const drop = (): void => {
      this.sockets.delete(incoming);
      this.sockets.delete(outgoing);
      incoming.destroy();
      outgoing.destroy();
    };
    incoming.on('error', drop);
    outgoing.on('error', drop);
    incoming.on('close', drop);
    outgoing.on('close', drop);
    incoming.pipe(outgoing);
    outgoing.pipe(incoming);
  }
}
