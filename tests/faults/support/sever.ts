import type net from 'node:net';

/**
 * Ends a connection abruptly: RST when possible, like a severed link. Node's resetAndDestroy() on a
 * socket that is already shutting down (its end() was called, e.g. after the peer's FIN) marks the
 * handle closing without closing it, and the process then spins forever at exit; such sockets are
 * just destroyed.
 */
export function sever(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.readableEnded || socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
