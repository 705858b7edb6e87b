// Multicast control on guest RX (netif-protocol.md §8, interface.c xenvif_start_xmit): with
// request-multicast-control on, a multicast frame whose destination the frontend did not add
// with an MCAST_ADD extra is dropped; broadcast always passes; the list edits work while off.
import { describe, expect, it } from 'vitest';
import { BROADCAST, MAC1, MAC2, collect, useManualHosts, rawFrame } from './helpers.js';

const newManualHost = useManualHosts();

const GROUP_A = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
const GROUP_B = [0x33, 0x33, 0x00, 0x00, 0x00, 0x02];
const NETTXF_EXTRA_INFO = 0x8; // netif.h
const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;

/**
 * Guest 2 has three queues: queue 0 receives normally (non-IP frames land there), queues 1 and 2
 * are driven raw to send the MCAST extras (Linux netfront never sends them; Windows PV drivers do).
 */
async function setup(frontendKeys: Record<string, string> = {}) {
  const { host } = await newManualHost();
  await host.addGuest({ domid: 1 });
  await host.addGuest({ domid: 2, queues: 3, frontendKeys });
  const at2 = collect(host, 2);
  const raws = [1, 2].map((queue) => host.guests.get(2)!.netfront.hostile(queue));
  let id = 0;
  const edit = async (type: number, mac: number[], queue: 1 | 2 = 1) => {
    const raw = raws[queue - 1]!;
    const start = raw.txRing.reqProd;
    raw.writeTxRequest(start, { gref: raw.grant(true, new Uint8Array(60)), offset: 0, flags: NETTXF_EXTRA_INFO, id: id++ & 0xffff, size: 60 });
    raw.writeTxSlot(start + 1, new Uint8Array([type, 0, ...mac, 0, 0, 0, 0]));
    raw.setTxReqProd(start + 2);
    raw.notifyTx();
    await host.settle();
  };
  const sender = host.guests.get(1)!.netfront;
  /** Sends a frame to `dst` and says whether guest 2 got it. */
  const delivered = async (dst: number[]) => {
    const before = at2.length;
    const frame = rawFrame(dst, MAC1, 60, before & 0xff);
    expect(sender.send(frame).kind).toBe('sent');
    await host.settle();
    return at2.length > before && at2[at2.length - 1]!.frame.every((b, i) => b === frame[i]);
  };
  const setControl = async (on: boolean) => {
    await host.xs.write(`${host.toolstack.frontendPath({ domid: 2, devid: 0 })}/request-multicast-control`, on ? '1' : '0');
    await host.settle();
  };
  return { host, dp: host.dataPaths.get('vif2.0')!, edit, delivered, setControl };
}

describe('multicast control', () => {
  it('mcast_filter_off_passes_every_group', async () => {
    const { dp, delivered } = await setup();
    expect(dp.multicastControl).toBe(false);
    expect(await delivered(GROUP_A)).toBe(true);
    expect(await delivered(GROUP_B)).toBe(true);
    expect(dp.stats.rxMulticastDrops).toBe(0);
  });

  it('mcast_filter_sampled_at_connect', async () => {
    const { dp, delivered, edit } = await setup({ 'request-multicast-control': '1' });
    expect(dp.multicastControl).toBe(true);
    expect(await delivered(GROUP_A)).toBe(false);
    expect(await delivered(BROADCAST)).toBe(true);
    expect(await delivered(MAC2)).toBe(true); // unicast is not filtered
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_A);
    expect(await delivered(GROUP_A)).toBe(true);
    expect(await delivered(GROUP_B)).toBe(false);
    expect(dp.stats.rxMulticastDrops).toBe(2);
  });

  it('mcast_filter_dynamic_on_add_del_off', async () => {
    const { dp, delivered, edit, setControl } = await setup();
    // the list may be edited while filtering is off; it applies once on
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_B);
    expect(await delivered(GROUP_A)).toBe(true);
    await setControl(true);
    expect(dp.multicastControl).toBe(true);
    expect(await delivered(GROUP_A)).toBe(false);
    expect(await delivered(GROUP_B)).toBe(true);
    expect(await delivered(BROADCAST)).toBe(true);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, GROUP_B);
    expect(await delivered(GROUP_B)).toBe(false);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, GROUP_B); // deleting an absent address is fine
    await setControl(false);
    expect(await delivered(GROUP_A)).toBe(true);
    expect(await delivered(GROUP_B)).toBe(true);
    expect(dp.stats.rxMulticastDrops).toBe(2);
    expect(dp.counters().tx_mcast_add).toBe(1);
    expect(dp.counters().tx_mcast_del).toBe(2);
  });

  it('mcast_list_is_one_per_vif_across_queues', async () => {
    const { dp, delivered, edit } = await setup({ 'request-multicast-control': '1' });
    expect(dp.queues.length).toBe(3);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_A, 1);
    expect(await delivered(GROUP_A)).toBe(true);
    // a DEL on another queue removes what queue 1 added, as on Linux's one list per vif
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_DEL, GROUP_A, 2);
    expect(await delivered(GROUP_A)).toBe(false);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_B, 2);
    expect(await delivered(GROUP_B)).toBe(true);
    expect(dp.counters().tx_mcast_add).toBe(2);
    expect(dp.counters().tx_mcast_del).toBe(1);
  });

  it('mcast_limit_of_64_is_per_vif', async () => {
    const { dp, delivered, edit } = await setup({ 'request-multicast-control': '1' });
    // 63 groups on queue 1 and one on queue 2 fill the vif's list; the next ADD, on either queue, is refused
    for (let i = 0; i < 63; i++) await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, [0x01, 0x00, 0x5e, 0x00, 0x01, i], 1);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_A, 2);
    expect(dp.counters().tx_mcast_full ?? 0).toBe(0);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_B, 2);
    await edit(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, GROUP_B, 1);
    expect(dp.counters().tx_mcast_full).toBe(2);
    expect(dp.counters().tx_mcast_add).toBe(64);
    expect(await delivered(GROUP_A)).toBe(true);
    expect(await delivered(GROUP_B)).toBe(false);
    expect(await delivered([0x01, 0x00, 0x5e, 0x00, 0x01, 62])).toBe(true);
  });
});
