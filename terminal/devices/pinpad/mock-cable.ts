import { SerialPortMock } from 'serialport';

/**
 * A null-modem cable between two ports of serialport's mock binding, for tests. The mock binding is
 * one-ended: what a port writes is only recorded, and what it reads must be pushed with `emitData`. The
 * cable wraps each end's `write` so the bytes written on one end are also received on the other, which
 * lets the real driver and the simulated pad talk through the real `SerialPortStream` code on both sides
 * (queued writes, reads, close). Each end still records what it wrote (`port.port.recording`).
 *
 * The mock is taken from `SerialPortMock.binding`, never from a second import of
 * `@serialport/binding-mock`: in ESM that would be a second copy with its own registry of ports.
 */

export interface MockCable {
  readonly terminal: SerialPortMock;
  readonly pad: SerialPortMock;
  /** Close both ends that are still open. */
  close(): Promise<void>;
}

type MockBindingPort = NonNullable<SerialPortMock['port']>;

export async function openMockCable(name: string): Promise<MockCable> {
  const terminalPath = `/dev/mock-${name}-terminal`;
  const padPath = `/dev/mock-${name}-pad`;
  SerialPortMock.binding.createPort(terminalPath, { echo: false, record: true });
  SerialPortMock.binding.createPort(padPath, { echo: false, record: true });
  const terminal = await openMock(terminalPath);
  const pad = await openMock(padPath);
  wire(bindingOf(terminal), bindingOf(pad));
  wire(bindingOf(pad), bindingOf(terminal));
  return { terminal, pad, close: () => Promise.all([closePort(terminal), closePort(pad)]).then(() => {}) };
}

function openMock(path: string): Promise<SerialPortMock> {
  return new Promise((resolve, reject) => {
    const port: SerialPortMock = new SerialPortMock({ path, baudRate: 115200 }, (err) => (err ? reject(err) : resolve(port)));
  });
}

function bindingOf(port: SerialPortMock): MockBindingPort {
  if (!port.port) throw new Error(`mock port ${port.path} is not open`);
  return port.port;
}

/** Bytes `from` writes are received by `to`, when `to` is still open (an unplugged cable loses them). */
function wire(from: MockBindingPort, to: MockBindingPort): void {
  const write = from.write.bind(from);
  from.write = async (buffer: Buffer): Promise<void> => {
    await write(buffer);
    if (to.isOpen) to.emitData(Buffer.from(buffer));
  };
}

export function closePort(port: SerialPortMock): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
