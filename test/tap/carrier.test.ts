// TUNSETCARRIER through TapDevice/TapPort against the real kernel (the vif's carrier off while
// the guest's RX is stalled). The device is up so the kernel reports NO-CARRIER.
import { afterAll, describe, expect, test } from 'vitest';
import { TapPort } from '../../src/tap/port.js';
import { announceSkip, linkJson, uniqueName } from './env.js';

const skip = announceSkip('test/tap/carrier.test.ts (real TAP devices)');

describe.skipIf(skip)('TAP carrier', () => {
  const ports: TapPort[] = [];
  afterAll(async () => {
    for (const port of ports) await port.close();
  });

  test('tap_carrier_follows_set_carrier', async () => {
    const port = TapPort.open(uniqueName('wnbc'), { mtu: 1500, up: true });
    ports.push(port);
    expect((await linkJson(port.name))?.flags).not.toContain('NO-CARRIER');
    port.setCarrier(false);
    expect((await linkJson(port.name))?.flags).toContain('NO-CARRIER');
    port.setCarrier(true);
    expect((await linkJson(port.name))?.flags).not.toContain('NO-CARRIER');
    expect(port.stats.carrierErrors).toBe(0);
  });
});
