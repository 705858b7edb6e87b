import { describe, expect, it } from 'vitest';
import {
  BackendConfigError, FrontendConfigError, VifConfigError, XEN_NETIF_MAX_XDP_HEADROOM, parseMac, parseMtu, parseRate, parseU32,
  parseXdpHeadroom, readFrontendConfig, type FrontendConfig,
} from '../../src/backend/frontend-config.js';
import { NetbackError } from '../../src/errors.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';

const BE = '/local/domain/0/backend/vif/7/0';
const FE = '/local/domain/7/device/vif/0';

/** What Linux netfront writes for one queue with a single event channel, plus libxl's backend mac. */
async function store(frontend: Record<string, string | undefined> = {}, backend: Record<string, string | undefined> = {}) {
  const xs = new SimXenStore();
  const fe: Record<string, string | undefined> = {
    'tx-ring-ref': '8', 'rx-ring-ref': '9', 'event-channel': '3', 'request-rx-copy': '1', ...frontend,
  };
  const be: Record<string, string | undefined> = { mac: '00:16:3e:00:07:00', ...backend };
  for (const [k, v] of Object.entries(fe)) if (v !== undefined) await xs.write(`${FE}/${k}`, v);
  for (const [k, v] of Object.entries(be)) if (v !== undefined) await xs.write(`${BE}/${k}`, v);
  return xs;
}

async function read(frontend: Record<string, string | undefined> = {}, backend: Record<string, string | undefined> = {}, maxQueues = 4): Promise<FrontendConfig> {
  return readFrontendConfig(await store(frontend, backend), { backendPath: BE, frontendPath: FE, maxQueues });
}

async function fails(code: string, frontend: Record<string, string | undefined> = {}, backend: Record<string, string | undefined> = {}, maxQueues = 4) {
  const err = await read(frontend, backend, maxQueues).then(() => undefined, (e: unknown) => e);
  expect(err, code).toBeInstanceOf(VifConfigError);
  expect((err as VifConfigError).code).toBe(code);
  return err as VifConfigError;
}

describe('frontend config', () => {
  it('readFrontendConfig_defaults_of_section_4_4', async () => {
    const c = await read();
    expect(c.numQueues).toBe(1);
    expect(c.queues).toEqual([{ index: 0, txRingRef: 8, rxRingRef: 9, txEventChannel: 3, rxEventChannel: 3, splitEventChannels: false }]);
    expect(c.features).toEqual({ rxCopy: true, rxNotify: false, sg: false, gsoTcpv4: false, gsoTcpv6: false, ipCsum: true, ipv6Csum: false });
    expect(c.ctrlRing).toBeUndefined();
    expect(c.xdpHeadroom).toBe(0);
    expect([...c.mac]).toEqual([0x00, 0x16, 0x3e, 0x00, 0x07, 0x00]);
    expect(c.rate).toEqual({ unlimited: true });
    expect(c.mtu).toBe(1500);
    expect(c.multicastControl).toBe(false);
  });

  it('readFrontendConfig_linux_netfront_features', async () => {
    const c = await read({
      'feature-rx-notify': '1', 'feature-sg': '1', 'feature-gso-tcpv4': '1', 'feature-gso-tcpv6': '1', 'feature-ipv6-csum-offload': '1',
    });
    expect(c.features).toEqual({ rxCopy: true, rxNotify: true, sg: true, gsoTcpv4: true, gsoTcpv6: true, ipCsum: true, ipv6Csum: true });
  });

  it('readFrontendConfig_no_csum_offload_turns_ipv4_csum_off', async () => {
    expect((await read({ 'feature-no-csum-offload': '1' })).features.ipCsum).toBe(false);
    expect((await read({ 'feature-no-csum-offload': '0' })).features.ipCsum).toBe(true);
  });

  it('readFrontendConfig_flags_zero_mean_off', async () => {
    const c = await read({ 'feature-sg': '0', 'feature-gso-tcpv4': '0', 'request-multicast-control': '0' });
    expect(c.features.sg).toBe(false);
    expect(c.features.gsoTcpv4).toBe(false);
    expect(c.multicastControl).toBe(false);
    expect((await read({ 'request-multicast-control': '1' })).multicastControl).toBe(true);
  });

  it('readFrontendConfig_flag_garbage', async () => {
    for (const bad of ['yes', '', '-1', ' 1', '1 ', '0x1', '4294967296']) {
      const err = await fails('NETBACK_FRONTEND_BAD_VALUE', { 'feature-sg': bad });
      expect(err).toBeInstanceOf(FrontendConfigError);
      expect(err.key).toBe('feature-sg');
      expect(err.errno).toBe(22);
    }
  });

  it('readFrontendConfig_rx_copy_required', async () => {
    expect((await fails('NETBACK_FRONTEND_NO_RX_COPY', { 'request-rx-copy': undefined })).errno).toBe(95);
    await fails('NETBACK_FRONTEND_NO_RX_COPY', { 'request-rx-copy': '0' });
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'request-rx-copy': 'true' });
  });

  it('readFrontendConfig_split_event_channels_first', async () => {
    const c = await read({ 'event-channel-tx': '11', 'event-channel-rx': '12', 'event-channel': '3' });
    expect(c.queues[0]).toMatchObject({ txEventChannel: 11, rxEventChannel: 12, splitEventChannels: true });
  });

  it('readFrontendConfig_half_split_falls_back_to_single', async () => {
    const c = await read({ 'event-channel-tx': '11', 'event-channel': '3' });
    expect(c.queues[0]).toMatchObject({ txEventChannel: 3, rxEventChannel: 3, splitEventChannels: false });
  });

  it('readFrontendConfig_missing_ring_ref_or_channel', async () => {
    expect((await fails('NETBACK_FRONTEND_MISSING_KEY', { 'tx-ring-ref': undefined })).key).toBe('tx-ring-ref');
    expect((await fails('NETBACK_FRONTEND_MISSING_KEY', { 'rx-ring-ref': undefined })).key).toBe('rx-ring-ref');
    expect((await fails('NETBACK_FRONTEND_MISSING_KEY', { 'event-channel': undefined })).key).toBe('event-channel');
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'tx-ring-ref': '8k' });
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'event-channel': 'NaN' });
  });

  it('readFrontendConfig_multi_queue_layout', async () => {
    const c = await read({
      'tx-ring-ref': undefined, 'rx-ring-ref': undefined, 'event-channel': undefined,
      'multi-queue-num-queues': '2',
      'queue-0/tx-ring-ref': '8', 'queue-0/rx-ring-ref': '9', 'queue-0/event-channel-tx': '1', 'queue-0/event-channel-rx': '2',
      'queue-1/tx-ring-ref': '10', 'queue-1/rx-ring-ref': '11', 'queue-1/event-channel': '5',
    });
    expect(c.numQueues).toBe(2);
    expect(c.queues).toEqual([
      { index: 0, txRingRef: 8, rxRingRef: 9, txEventChannel: 1, rxEventChannel: 2, splitEventChannels: true },
      { index: 1, txRingRef: 10, rxRingRef: 11, txEventChannel: 5, rxEventChannel: 5, splitEventChannels: false },
    ]);
  });

  it('readFrontendConfig_multi_queue_missing_queue_dir', async () => {
    const err = await fails('NETBACK_FRONTEND_MISSING_KEY', { 'multi-queue-num-queues': '2' });
    expect(err.key).toBe('queue-0/tx-ring-ref');
  });

  it('readFrontendConfig_queue_count_above_max', async () => {
    const err = await fails('NETBACK_FRONTEND_TOO_MANY_QUEUES', { 'multi-queue-num-queues': '5' }, {}, 4);
    expect(err.message).toContain('guest requested 5 queues, exceeding the maximum of 4');
    expect(err.errno).toBe(22);
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'multi-queue-num-queues': '0' });
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'multi-queue-num-queues': 'two' });
  });

  it('readFrontendConfig_ctrl_ring', async () => {
    expect((await read({ 'ctrl-ring-ref': '20', 'event-channel-ctrl': '7' })).ctrlRing).toEqual({ ringRef: 20, eventChannel: 7 });
    const err = await fails('NETBACK_FRONTEND_CTRL_NO_EVTCHN', { 'ctrl-ring-ref': '20' });
    expect(err.key).toBe('event-channel-ctrl');
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'ctrl-ring-ref': 'x' });
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'ctrl-ring-ref': '20', 'event-channel-ctrl': '' });
  });

  it('readFrontendConfig_xdp_headroom_clamped', async () => {
    expect((await read({ 'xdp-headroom': '256' })).xdpHeadroom).toBe(256);
    expect((await read({ 'xdp-headroom': '65535' })).xdpHeadroom).toBe(0x7fff);
    await fails('NETBACK_FRONTEND_BAD_VALUE', { 'xdp-headroom': '256b' });
  });

  it('readFrontendConfig_bad_mac', async () => {
    const missing = await fails('NETBACK_BACKEND_MISSING_KEY', {}, { mac: undefined });
    expect(missing).toBeInstanceOf(BackendConfigError);
    for (const bad of ['00:16:3e:00:07', '00:16:3e:00:07:00:01', '00-16-3e-00-07-00', 'zz:16:3e:00:07:00', '000:16:3e:00:07:00', '00:16:3e:00:07:', '', '00:16:3e:00:07:00 ']) {
      await fails('NETBACK_BACKEND_BAD_MAC', {}, { mac: bad });
    }
  });

  it('parseMac_values', () => {
    expect([...parseMac('0:1:a:Bc:de:FF')]).toEqual([0, 1, 10, 0xbc, 0xde, 0xff]);
  });

  it('parseRate_values', () => {
    expect(parseRate(undefined)).toEqual({ rate: { unlimited: true }, malformed: false });
    expect(parseRate('1250000,50000')).toEqual({ rate: { unlimited: false, bytes: 1250000, usecs: 50000 }, malformed: false });
    expect(parseRate('0,0')).toEqual({ rate: { unlimited: false, bytes: 0, usecs: 0 }, malformed: false });
    for (const bad of ['', '100', '100,', ',100', '100,50,1', '10Mb/s', '-1,5', '1, 5', ' 1,5', '1,5 ', '99999999999999999999,1']) {
      expect(parseRate(bad), bad).toEqual({ rate: { unlimited: true }, malformed: true });
    }
  });

  it('readFrontendConfig_malformed_rate_is_unlimited', async () => {
    expect((await read({}, { rate: 'fast' })).rate).toEqual({ unlimited: true });
    expect((await read({}, { rate: '1000,20000' })).rate).toEqual({ unlimited: false, bytes: 1000, usecs: 20000 });
  });

  it('parseMtu_values', () => {
    expect(parseMtu(undefined)).toBe(1500);
    expect(parseMtu('9000')).toBe(9000);
    expect(parseMtu('68')).toBe(68);
    for (const [bad, code] of [['67', 'NETBACK_BACKEND_BAD_MTU'], ['65518', 'NETBACK_BACKEND_BAD_MTU'], ['1500.0', 'NETBACK_BACKEND_BAD_VALUE'], ['', 'NETBACK_BACKEND_BAD_VALUE']] as const) {
      expect(() => parseMtu(bad), bad).toThrow(expect.objectContaining({ code }));
    }
  });

  it('parseU32_bounds', () => {
    expect(parseU32('4294967295', 'k', 'frontend')).toBe(0xffffffff);
    expect(() => parseU32('4294967296', 'k', 'frontend')).toThrow(FrontendConfigError);
    expect(() => parseU32('1e3', 'k', 'backend')).toThrow(BackendConfigError);
  });

  it('parseXdpHeadroom_values', () => {
    expect(parseXdpHeadroom(undefined)).toBe(0);
    expect(parseXdpHeadroom('32767')).toBe(XEN_NETIF_MAX_XDP_HEADROOM);
    expect(parseXdpHeadroom('4294967296')).toBe(XEN_NETIF_MAX_XDP_HEADROOM);
  });

  it('readFrontendConfig_garbage_never_escapes_untyped', async () => {
    // Every frontend key set to each garbage value: only typed errors or a config without NaN.
    const keys = ['multi-queue-num-queues', 'tx-ring-ref', 'rx-ring-ref', 'event-channel', 'event-channel-tx', 'event-channel-rx',
      'request-rx-copy', 'feature-rx-notify', 'feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-no-csum-offload',
      'feature-ipv6-csum-offload', 'xdp-headroom', 'ctrl-ring-ref', 'event-channel-ctrl', 'request-multicast-control'];
    const garbage = ['', 'NaN', 'Infinity', '-0', '1e9', '0x10', '\u0000', '٣', '9'.repeat(40), '1\n'];
    for (const key of keys) {
      for (const value of garbage) {
        const result = await read({ [key]: value }).then((c) => c, (e: unknown) => e);
        if (result instanceof Error) {
          expect(result, `${key}=${JSON.stringify(value)}`).toBeInstanceOf(NetbackError);
        } else {
          expect(JSON.stringify(result)).not.toContain('null'); // NaN serialises as null
        }
      }
    }
  });
});
