import { describe, expect, it } from 'vitest';
import {
  BackendStateMachine, XenbusState as S, XenbusStateError, backendPath, nextBackendHop, parseXenbusState, xenbusStateName,
} from '../../src/backend/xenbus-state.js';

// Every legal single hop, written out by hand from xenbus.c set_backend_state: [from, target, hop].
const LEGAL: [S, S, S][] = [
  [S.Initialising, S.InitWait, S.InitWait],
  [S.Initialising, S.Connected, S.InitWait],
  [S.Initialising, S.Closing, S.InitWait],
  [S.Initialising, S.Closed, S.Closed],
  [S.Closed, S.InitWait, S.InitWait],
  [S.Closed, S.Connected, S.InitWait],
  [S.Closed, S.Closing, S.Closing],
  [S.InitWait, S.Connected, S.Connected],
  [S.InitWait, S.Closing, S.Closing],
  [S.InitWait, S.Closed, S.Closing],
  [S.Connected, S.InitWait, S.Closing],
  [S.Connected, S.Closing, S.Closing],
  [S.Connected, S.Closed, S.Closing],
  [S.Closing, S.InitWait, S.Closed],
  [S.Closing, S.Connected, S.Closed],
  [S.Closing, S.Closed, S.Closed],
];

// Full walks, by hand: [from, target, hops].
const PATHS: [S, S, S[]][] = [
  [S.Initialising, S.Connected, [S.InitWait, S.Connected]],
  [S.Initialising, S.Closing, [S.InitWait, S.Closing]],
  [S.Initialising, S.Closed, [S.Closed]],
  [S.InitWait, S.Closed, [S.Closing, S.Closed]],
  [S.Connected, S.InitWait, [S.Closing, S.Closed, S.InitWait]],
  [S.Connected, S.Closed, [S.Closing, S.Closed]],
  [S.Closing, S.Connected, [S.Closed, S.InitWait, S.Connected]],
  [S.Closing, S.InitWait, [S.Closed, S.InitWait]],
  [S.Closed, S.Connected, [S.InitWait, S.Connected]],
  [S.Closed, S.Closing, [S.Closing]],
  [S.Connected, S.Connected, []],
];

function recordingMachine(start: S[] = []) {
  const log: string[] = [];
  const machine = new BackendStateMachine({
    switchState: async (s) => { log.push(`write ${S[s]}`); },
    connect: async () => { log.push('connect'); },
    disconnect: async () => { log.push('disconnect'); },
  });
  return { machine, log, start };
}

describe('xenbus state', () => {
  it('xenbusStateName_all_values', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(xenbusStateName)).toEqual([
      'Unknown', 'Initialising', 'InitWait', 'Initialised', 'Connected', 'Closing', 'Closed', 'Reconfiguring', 'Reconfigured',
    ]);
    expect(xenbusStateName(9)).toBe('Invalid(9)');
  });

  it.each(LEGAL)('nextBackendHop_legal_%s_toward_%s', (from, target, hop) => {
    expect(nextBackendHop(from, target)).toBe(hop);
  });

  it('nextBackendHop_illegal_targets_are_typed_errors', () => {
    const targets = [S.InitWait, S.Connected, S.Closing, S.Closed];
    for (let from = 0; from <= 8; from++) {
      for (let target = 0; target <= 8; target++) {
        if (from === target) continue;
        const legal = LEGAL.some(([f, t]) => f === from && t === target);
        if (legal) continue;
        // Only the four targets from the five reachable states are legal; everything else is a BUG() in Linux.
        expect(() => nextBackendHop(from, target), `${from}->${target}`).toThrow(XenbusStateError);
        if (targets.includes(target) && [S.Initialising, S.InitWait, S.Connected, S.Closing, S.Closed].includes(from)) {
          throw new Error(`missing legal pair ${from}->${target}`);
        }
      }
    }
  });

  it.each(PATHS)('backendPath_%s_to_%s', (from, target, hops) => {
    expect(backendPath(from, target)).toEqual(hops);
  });

  it('setBackendState_connect_before_publishing_connected', async () => {
    const { machine, log } = recordingMachine();
    await machine.setBackendState(S.Connected);
    expect(log).toEqual(['write InitWait', 'connect', 'write Connected']);
    expect(machine.state).toBe(S.Connected);
  });

  it('setBackendState_connected_to_initwait_disconnects_then_closing_closed_initwait', async () => {
    const { machine, log } = recordingMachine();
    await machine.setBackendState(S.Connected);
    log.length = 0;
    await machine.setBackendState(S.InitWait);
    expect(log).toEqual(['disconnect', 'write Closing', 'write Closed', 'write InitWait']);
  });

  it('setBackendState_initialising_to_closed_direct', async () => {
    const { machine, log } = recordingMachine();
    await machine.setBackendState(S.Closed);
    expect(log).toEqual(['write Closed']);
  });

  it('setBackendState_connect_failure_stays_in_initwait', async () => {
    const writes: S[] = [];
    const machine = new BackendStateMachine({
      switchState: async (s) => { writes.push(s); },
      connect: async () => { throw new XenbusStateError('NETBACK_TEST', 'no', ''); },
      disconnect: async () => {},
    });
    await expect(machine.setBackendState(S.Connected)).rejects.toBeInstanceOf(XenbusStateError);
    expect(machine.state).toBe(S.InitWait);
    expect(writes).toEqual([S.InitWait]);
    await machine.setBackendState(S.Closed);
    expect(writes).toEqual([S.InitWait, S.Closing, S.Closed]);
  });

  it('setBackendState_same_target_is_a_noop', async () => {
    const { machine, log } = recordingMachine();
    await machine.setBackendState(S.InitWait);
    await machine.setBackendState(S.InitWait);
    expect(log).toEqual(['write InitWait']);
  });

  it('parseXenbusState_values', () => {
    expect(parseXenbusState(undefined)).toBe(S.Unknown);
    expect(parseXenbusState('4')).toBe(4);
    expect(parseXenbusState('9')).toBe(9);
    for (const bad of ['', ' 4', '4 ', '-1', '0x4', 'Connected', '4.0', '99999999999']) {
      expect(() => parseXenbusState(bad), bad).toThrow(XenbusStateError);
    }
    try {
      parseXenbusState('x');
    } catch (err) {
      expect((err as XenbusStateError).code).toBe('NETBACK_XENBUS_BAD_STATE');
    }
  });
});
