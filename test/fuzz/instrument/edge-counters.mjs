// An asc transform that builds the coverage-instrumented kernels (npm run build:cover): after
// compilation, before validation and optimisation, every function gets 8-bit edge counters in
// linear memory at COVER_BASE + id, above the layout (LAYOUT_END) where no kernel writes:
//   - function entry;
//   - each arm of every `if` (an `if` without `else` gets one, so "not taken" is an edge too);
//   - every loop header (the back edge and the entry);
//   - the join after every named block a branch can leave through (br, br_if, br_table targets);
//   - the fall-through after every `br_if` in a block.
// This is SanitizerCoverage's edge mode on Wasm's structured control flow: critical edges are
// split by the counters on both if arms and on the joins. Each counter is `c = c + 1`, with the
// carry folded back in so a counter never wraps to zero (AFL++'s NeverZero). Binaryen has no
// coverage pass of its own (log-execution logs only function entries and loop headers), so the
// pass is written here against binaryen.js's expression API.
// The counter map (id -> function, kind, source location from the debug annotations) goes to
// build/netback.cover.json for the coverage report (test/fuzz/kernel/coverage.ts).
import { writeFileSync } from 'node:fs';

export const COVER_BASE = 0x400000;

export default class EdgeCounters {
  afterCompile(module) {
    const binaryen = this.binaryen;
    const counters = [];
    const ids = {
      block: binaryen.BlockId, if: binaryen.IfId, loop: binaryen.LoopId, break: binaryen.BreakId,
      call: binaryen.CallId, callIndirect: binaryen.CallIndirectId,
    };
    // Expression children by wrapper: the getters of binaryen.js's expression info that hold
    // expressions (everything else there is a number, a name or a type).
    const CHILD_KEYS = ['children', 'operands', 'condition', 'ifTrue', 'ifFalse', 'body', 'value', 'ptr', 'left', 'right',
      'dest', 'source', 'size', 'delta', 'expected', 'replacement', 'vec', 'shift', 'a', 'b', 'c', 'values', 'ref'];
    const NON_EXPRESSION = new Set([binaryen.ConstId, binaryen.LocalGetId, binaryen.GlobalGetId, binaryen.NopId, binaryen.UnreachableId, binaryen.MemorySizeId]);
    let current = '';
    const counter = (kind) => {
      const id = counters.length;
      counters.push({ id, fn: current, kind });
      const address = () => module.i32.const(COVER_BASE + id);
      const bumped = () => module.i32.add(module.i32.load8_u(0, 1, address()), module.i32.const(1));
      return module.i32.store8(0, 1, address(), module.i32.add(bumped(), module.i32.shr_u(bumped(), module.i32.const(8))));
    };
    const withCounter = (kind, expr) => module.block(null, [counter(kind), expr], binaryen.getExpressionType(expr));
    let fresh = 0;
    const walk = (expr) => {
      if (expr === 0) return;
      const id = binaryen.getExpressionId(expr);
      if (NON_EXPRESSION.has(id)) return;
      const info = binaryen.getExpressionInfo(expr);
      // children first, so inserted counters are never walked
      for (const key of CHILD_KEYS) {
        if (key === 'value' && (id === binaryen.ConstId)) continue;
        const child = info[key];
        if (Array.isArray(child)) child.forEach(walk);
        else if (typeof child === 'number' && child !== 0 && (key !== 'target' || id === ids.callIndirect)) walk(child);
      }
      if (id === ids.if) {
        binaryen.If.setIfTrue(expr, withCounter('if-then', info.ifTrue));
        if (info.ifFalse !== 0) binaryen.If.setIfFalse(expr, withCounter('if-else', info.ifFalse));
        else binaryen.If.setIfFalse(expr, module.block(null, [counter('if-not-taken')], binaryen.none));
      } else if (id === ids.loop) {
        binaryen.Loop.setBody(expr, withCounter('loop-header', info.body));
      } else if (id === ids.block) {
        // the fall-through of every br_if among the block's statements
        for (let i = info.children.length - 1; i >= 0; i--) {
          const c = info.children[i];
          if (binaryen.getExpressionId(c) === ids.break && binaryen.Break.getCondition(c) !== 0 && binaryen.getExpressionType(c) === binaryen.none) {
            binaryen.Block.insertChildAt(expr, i + 1, counter('br_if-fallthrough'));
          }
        }
        // the join after a named block: B { ... } becomes B' { B { ... } ; counter }
        if (info.name && info.type === binaryen.none) {
          const children = binaryen.Block.getNumChildren(expr);
          const moved = [];
          for (let i = 0; i < children; i++) moved.push(binaryen.Block.getChildAt(expr, i));
          const inner = module.block(info.name, moved, binaryen.none);
          for (let i = children - 1; i >= 0; i--) binaryen.Block.removeChildAt(expr, i);
          binaryen.Block.appendChild(expr, inner);
          binaryen.Block.appendChild(expr, counter('block-join'));
          binaryen.Block.setName(expr, `${info.name}$cover${fresh++}`);
        }
      }
    };
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const fn = module.getFunctionByIndex(i);
      const info = binaryen.getFunctionInfo(fn);
      if (info.module !== '') continue; // an import
      current = info.name;
      walk(info.body);
      binaryen.Function.setBody(fn, withCounter('function-entry', binaryen.Function.getBody(fn)));
    }
    // source locations: the nearest debug annotation before each counter's address in the text;
    // a function-entry counter comes before any of its function's, so it takes the next one
    const text = module.emitText();
    let location = '';
    let entries = [];
    for (const line of text.split('\n')) {
      const at = line.indexOf(';;@ ');
      if (at >= 0) {
        location = line.slice(at + 4).trim();
        for (const id of entries) counters[id].location = location;
        entries = [];
      }
      const constant = /\(i32\.const (\d+)\)/.exec(line);
      if (constant !== null) {
        const id = Number(constant[1]) - COVER_BASE;
        if (id >= 0 && id < counters.length && counters[id].location === undefined) {
          if (counters[id].kind === 'function-entry') { if (!entries.includes(id)) entries.push(id); }
          else counters[id].location = location;
        }
      }
    }
    writeFileSync(new URL('../../../build/netback.cover.json', import.meta.url), JSON.stringify({ base: COVER_BASE, counters }, null, 0));
    this.log(`edge-counters: ${counters.length} counters in ${module.getNumFunctions()} functions`);
  }
}
