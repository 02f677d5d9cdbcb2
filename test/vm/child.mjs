// A second process for the guest tests (test/vm/vfio.test.ts), using the built
// package (dist/). Modes:
//   wire <pciA> <pciB>   open both NICs, forward endless null traffic A -> B,
//                        print "running <pid>" and wait to be killed (kill -9 test)
//   open <pci>           open one NIC and print "opened" or "error <CODE> <message>"
import { Engine } from '../../dist/src/index.js';

const [mode, a, b] = process.argv.slice(2);
const cpus = Engine.hostInfo().allowedCpus;
const lcore = cpus[cpus.length - 1];
try {
  const e = await Engine.create({ lcores: [lcore], idle: 'adaptive', mempool: { mbufs: 4096, hugepages: 'auto' } });
  if (mode === 'wire') {
    const src = e.addPort('src', { driver: 'null', packetSize: 60 });
    const pa = e.addPort('a', { driver: 'vfio', pci: a });
    const pb = e.addPort('b', { driver: 'vfio', pci: b });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, pa);
    e.forward(pb, sink);
    await e.start();
    console.log(`running ${process.pid}`);
    setInterval(() => {}, 1000);
  } else {
    e.addPort('p', { driver: 'vfio', pci: a });
    console.log('opened');
    await e.close();
  }
} catch (err) {
  console.log(`error ${err.code ?? 'NONE'} ${err.message}`);
  process.exit(3);
}
