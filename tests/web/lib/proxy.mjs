// A TCP forwarder on another loopback port: cut() destroys every open
// connection and refuses new ones (a real network cut, unlike the browser's
// offline emulation, which leaves an open WebSocket alone); restore() lets
// connections through again.
import net from 'node:net';

export class Forwarder {
  constructor(targetPort, targetHost = '127.0.0.1') {
    this.targetPort = targetPort;
    this.targetHost = targetHost;
    this.sockets = new Set();
    this.isCut = false;
    this.server = net.createServer((client) => this._onConn(client));
  }

  listen(port = 0) {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => {
      this.port = this.server.address().port;
      resolve(this);
    }));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  _onConn(client) {
    if (this.isCut) return client.destroy();
    const upstream = net.connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Destroys every connection (no close frames) and refuses new ones. */
  cut() {
    this.isCut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Drops current connections but keeps accepting new ones. */
  blip() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore() {
    this.isCut = false;
  }

  close() {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}
