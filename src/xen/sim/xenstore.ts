// An in-memory xenstore with xenstored's semantics where the engine depends on them: parents
// created by write, rm of whole subtrees, watches that fire once on registration and for any
// change at or below their path (and for a removed ancestor), events delivered asynchronously in
// order, and transactions that fail their commit with EAGAIN when a node they touched changed
// meanwhile (then XenStore.transaction runs the body again). see: docs/misc/xenstore.txt

import { XenStoreError } from '../errors.js';
import type { XenStore, XenStoreTransaction, XenStoreWatch, XenStoreWatchHandler } from '../types.js';

interface StoreNode {
  value: string;
  children: Map<string, StoreNode>;
}

type Operation = { kind: 'write'; path: string; value: string } | { kind: 'rm'; path: string };

interface TransactionState extends XenStoreTransaction {
  readonly startGeneration: number;
  readonly snapshot: StoreNode;
  readonly touched: Set<string>;
  readonly log: Operation[];
}

interface WatchEntry {
  readonly path: string;
  readonly token: string;
  readonly handler: XenStoreWatchHandler;
  open: boolean;
}

const MAX_PATH = 3072; // see: xs_wire.h XENSTORE_ABS_PATH_MAX
const MAX_VALUE = 4096; // see: xs_wire.h XENSTORE_PAYLOAD_MAX
const DEFAULT_ATTEMPTS = 16;

function emptyNode(): StoreNode {
  return { value: '', children: new Map() };
}

function cloneNode(node: StoreNode): StoreNode {
  const children = new Map<string, StoreNode>();
  for (const [name, child] of node.children) children.set(name, cloneNode(child));
  return { value: node.value, children };
}

function segments(path: string, operation: string): string[] {
  if (!path.startsWith('/') || path.length > MAX_PATH || path.includes('//') || (path.length > 1 && path.endsWith('/'))) {
    throw new XenStoreError('EINVAL', operation, path);
  }
  return path === '/' ? [] : path.slice(1).split('/');
}

function lookup(root: StoreNode, parts: readonly string[]): StoreNode | undefined {
  let node: StoreNode | undefined = root;
  for (const part of parts) {
    node = node.children.get(part);
    if (node === undefined) return undefined;
  }
  return node;
}

function writeNode(root: StoreNode, parts: readonly string[], value: string): void {
  let node = root;
  for (const part of parts) {
    let child = node.children.get(part);
    if (child === undefined) {
      child = emptyNode();
      node.children.set(part, child);
    }
    node = child;
  }
  node.value = value;
}

function removeNode(root: StoreNode, parts: readonly string[]): boolean {
  if (parts.length === 0) return false;
  const parent = lookup(root, parts.slice(0, -1));
  return parent?.children.delete(parts[parts.length - 1]!) ?? false;
}

/** Whether `path` is `ancestor` or lies below it. */
function within(path: string, ancestor: string): boolean {
  return path === ancestor || ancestor === '/' || path.startsWith(`${ancestor}/`);
}

export class SimXenStore implements XenStore {
  private root = emptyNode();
  private generation = 0;
  /** The generation at which each path last changed (written, or removed with an ancestor), while a transaction is open. */
  private readonly changedAt = new Map<string, number>();
  private readonly transactions = new Map<number, TransactionState>();
  private nextTransactionId = 1;
  private readonly watches = new Set<WatchEntry>();
  private readonly pendingEvents: [WatchEntry, string][] = [];
  private deliveryScheduled = false;
  /** Commits that failed with EAGAIN, for tests and the visualizer. */
  conflicts = 0;
  /**
   * TEST ONLY: what a read of `path` throws instead of answering (undefined: answer). A vif's
   * watch handlers read first, so this fails a control-plane step from its watch (containment.ts).
   */
  faults: { read?: (path: string) => unknown } = {};

  domainPath(domid: number): string {
    return `/local/domain/${domid}`;
  }

  /** Domain `domid`'s connection to this store (its relative paths are below its /local/domain/<domid>). */
  connection(domid: number): SimDomainXenStore {
    return new SimDomainXenStore(this, domid);
  }

  async read(path: string, tx?: XenStoreTransaction): Promise<string | undefined> {
    const thrown = this.faults.read?.(path);
    if (thrown !== undefined) throw thrown;
    const parts = segments(path, 'read');
    const state = this.transactionState(tx, 'read', path);
    state?.touched.add(path);
    return lookup(state?.snapshot ?? this.root, parts)?.value;
  }

  async write(path: string, value: string, tx?: XenStoreTransaction): Promise<void> {
    const parts = segments(path, 'write');
    if (value.length > MAX_VALUE) throw new XenStoreError('E2BIG', 'write', path);
    const state = this.transactionState(tx, 'write', path);
    if (state !== undefined) {
      writeNode(state.snapshot, parts, value);
      state.touched.add(path);
      state.log.push({ kind: 'write', path, value });
      return;
    }
    this.applyWrite(path, parts, value);
  }

  async rm(path: string, tx?: XenStoreTransaction): Promise<void> {
    const parts = segments(path, 'rm');
    const state = this.transactionState(tx, 'rm', path);
    if (state !== undefined) {
      removeNode(state.snapshot, parts);
      state.touched.add(path);
      state.log.push({ kind: 'rm', path });
      return;
    }
    this.applyRm(path, parts);
  }

  async directory(path: string, tx?: XenStoreTransaction): Promise<string[]> {
    const parts = segments(path, 'directory');
    const state = this.transactionState(tx, 'directory', path);
    state?.touched.add(path);
    return [...(lookup(state?.snapshot ?? this.root, parts)?.children.keys() ?? [])];
  }

  async watch(path: string, token: string, handler: XenStoreWatchHandler): Promise<XenStoreWatch> {
    segments(path, 'watch');
    const entry: WatchEntry = { path, token, handler, open: true };
    this.watches.add(entry);
    this.enqueue(entry, path); // xenstored fires every new watch once
    return {
      path,
      token,
      close: async () => {
        entry.open = false;
        this.watches.delete(entry);
      },
    };
  }

  async transaction<T>(body: (tx: XenStoreTransaction) => Promise<T>, attempts = DEFAULT_ATTEMPTS): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const state: TransactionState = {
        id: this.nextTransactionId++,
        startGeneration: this.generation,
        snapshot: cloneNode(this.root),
        touched: new Set(),
        log: [],
      };
      this.transactions.set(state.id, state);
      let result: T;
      try {
        result = await body(state);
      } finally {
        this.transactions.delete(state.id);
      }
      const committed = this.commit(state);
      // with no transaction open, no recorded change can conflict with a later one (each starts
      // at the generation of its start): forget them, or every rm scans the whole history
      if (this.transactions.size === 0) this.changedAt.clear();
      if (committed) return result;
      this.conflicts++;
      if (attempt >= attempts) throw new XenStoreError('EAGAIN', 'transaction', '/');
    }
  }

  async close(): Promise<void> {
    this.watches.clear();
    this.pendingEvents.length = 0;
  }

  /** Every path below `path` with its value, for tests and snapshots. */
  dump(path = '/'): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (node: StoreNode, at: string) => {
      out.set(at, node.value);
      for (const [name, child] of node.children) walk(child, at === '/' ? `/${name}` : `${at}/${name}`);
    };
    const start = lookup(this.root, segments(path, 'dump'));
    if (start !== undefined) walk(start, path);
    return out;
  }

  private transactionState(tx: XenStoreTransaction | undefined, operation: string, path: string): TransactionState | undefined {
    if (tx === undefined) return undefined;
    const state = this.transactions.get(tx.id);
    if (state === undefined) throw new XenStoreError('EINVAL', `${operation} in a finished transaction`, path);
    return state;
  }

  private commit(state: TransactionState): boolean {
    for (const path of state.touched) {
      if ((this.changedAt.get(path) ?? 0) > state.startGeneration) return false;
    }
    for (const op of state.log) {
      const parts = segments(op.path, op.kind);
      if (op.kind === 'write') this.applyWrite(op.path, parts, op.value);
      else this.applyRm(op.path, parts);
    }
    return true;
  }

  private applyWrite(path: string, parts: readonly string[], value: string): void {
    writeNode(this.root, parts, value);
    this.generation++;
    this.markChanged(parts);
    this.fire(path, false);
  }

  private applyRm(path: string, parts: readonly string[]): void {
    const existed = lookup(this.root, parts) !== undefined;
    removeNode(this.root, parts);
    this.generation++;
    if (this.transactions.size > 0) {
      for (const known of this.changedAt.keys()) if (within(known, path)) this.changedAt.set(known, this.generation);
    }
    this.markChanged(parts);
    if (existed) this.fire(path, true);
  }

  /** A node and its ancestors (whose child lists may have changed) changed now. */
  private markChanged(parts: readonly string[]): void {
    if (this.transactions.size === 0) return; // only an open transaction can conflict (see transaction)
    for (let i = 0; i <= parts.length; i++) this.changedAt.set(`/${parts.slice(0, i).join('/')}`, this.generation);
  }

  private fire(path: string, removal: boolean): void {
    for (const entry of this.watches) {
      if (within(path, entry.path)) this.enqueue(entry, path);
      else if (removal && within(entry.path, path)) this.enqueue(entry, entry.path);
    }
  }

  private enqueue(entry: WatchEntry, path: string): void {
    this.pendingEvents.push([entry, path]);
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    queueMicrotask(() => this.deliver());
  }

  private deliver(): void {
    this.deliveryScheduled = false;
    while (this.pendingEvents.length > 0) {
      const [entry, path] = this.pendingEvents.shift()!;
      if (entry.open) entry.handler(path, entry.token);
    }
  }
}

/**
 * One domain's connection to the simulated xenstored: a path without a leading '/' is relative to
 * that domain's /local/domain/<domid>, as xenstored resolves it (a driver domain learns its own
 * domid by reading `domid` so), and a watch set on a relative path reports relative paths.
 * Closing the connection drops its watches, not the store. see: docs/misc/xenstore.txt (paths)
 */
export class SimDomainXenStore implements XenStore {
  private readonly home: string;
  private readonly watches = new Set<XenStoreWatch>();

  constructor(private readonly store: XenStore, readonly domid: number) {
    this.home = store.domainPath(domid);
  }

  domainPath(domid: number): string {
    return this.store.domainPath(domid);
  }

  read(path: string, tx?: XenStoreTransaction): Promise<string | undefined> {
    return this.store.read(this.absolute(path), tx);
  }

  write(path: string, value: string, tx?: XenStoreTransaction): Promise<void> {
    return this.store.write(this.absolute(path), value, tx);
  }

  rm(path: string, tx?: XenStoreTransaction): Promise<void> {
    return this.store.rm(this.absolute(path), tx);
  }

  directory(path: string, tx?: XenStoreTransaction): Promise<string[]> {
    return this.store.directory(this.absolute(path), tx);
  }

  async watch(path: string, token: string, handler: XenStoreWatchHandler): Promise<XenStoreWatch> {
    const relative = !path.startsWith('/');
    const inner = await this.store.watch(this.absolute(path), token, (changed, t) =>
      handler(relative && changed.startsWith(`${this.home}/`) ? changed.slice(this.home.length + 1) : changed, t));
    const watch: XenStoreWatch = {
      path, token,
      close: async () => {
        this.watches.delete(watch);
        await inner.close();
      },
    };
    this.watches.add(watch);
    return watch;
  }

  transaction<T>(body: (tx: XenStoreTransaction) => Promise<T>, attempts?: number): Promise<T> {
    return this.store.transaction(body, attempts);
  }

  async close(): Promise<void> {
    await Promise.all([...this.watches].map((watch) => watch.close()));
  }

  private absolute(path: string): string {
    return path.startsWith('/') ? path : `${this.home}/${path}`;
  }
}
