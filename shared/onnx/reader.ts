import { DEFAULT_DEPLOY_LIMITS } from '../deploy/limits';
import type { ByteSource } from '../ports/storage';
import {
  escapeUserText,
  LimitExceededError,
  limitIssue,
  ValidationError,
  type ValidationIssue,
} from '../runtime/errors';
import { BufferedByteReader, DEFAULT_WINDOW_BYTES } from './source';
import {
  OnnxFormatError,
  type OnnxSignature,
  type OnnxValueKind,
  type TensorSignature,
  tritonDataTypeOf,
} from './types';

export { OnnxFormatError, type OnnxSignature, type TensorSignature } from './types';

/**
 * Bounds on the work and memory one read may take, whatever the file holds. The defaults fit real
 * models with a wide margin (a large transformer graph has ~10^5 nodes, each one field here).
 */
export interface OnnxReadLimits {
  /** Nested messages entered (ModelProto is depth 0; a plain tensor input's dims are at depth 6). */
  maxDepth: number;
  /** Fields visited (read or skipped) across the whole walk. */
  maxFields: number;
  /** One string field that is kept (a name, a domain, a dim_param). */
  maxStringBytes: number;
  /** All kept names (inputs, outputs, initializers) and dims together, 8 bytes counted per dim. */
  maxRetainedBytes: number;
  /** Size of each ranged read. */
  windowBytes: number;
  /** Real graph inputs and outputs together; the walk stops as soon as there are more. */
  maxTensors: number;
  /** Dimensions of one input or output's shape; the walk stops at the first one over. */
  maxRank: number;
}

export const DEFAULT_ONNX_READ_LIMITS: Readonly<OnnxReadLimits> = {
  maxDepth: 32,
  maxFields: 5_000_000,
  maxStringBytes: 64 * 1024,
  maxRetainedBytes: 16 * 1024 * 1024,
  windowBytes: DEFAULT_WINDOW_BYTES,
  maxTensors: DEFAULT_DEPLOY_LIMITS.maxTensorsPerModel,
  maxRank: DEFAULT_DEPLOY_LIMITS.maxRank,
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

interface Tag {
  field: number;
  wireType: number;
  /** Offset of the tag's first byte. */
  offset: number;
}

/** Field number -> expected wire type, for the fields of ModelProto. Used to recognise the format. */
const MODEL_FIELDS: ReadonlyMap<number, number> = new Map([
  [1, WIRE_VARINT], // ir_version
  [2, WIRE_LEN], // producer_name
  [3, WIRE_LEN], // producer_version
  [4, WIRE_LEN], // domain
  [5, WIRE_VARINT], // model_version
  [6, WIRE_LEN], // doc_string
  [7, WIRE_LEN], // graph
  [8, WIRE_LEN], // opset_import
  [14, WIRE_LEN], // metadata_props
  [20, WIRE_LEN], // training_info
  [25, WIRE_LEN], // functions
]);

/** Well-known signatures of files people upload by mistake, for a clearer rejection. */
const MAGIC: readonly { bytes: readonly number[]; what: string }[] = [
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive (a PyTorch .pt/.pth file is one)' },
  { bytes: [0x50, 0x4b, 0x05, 0x06], what: 'an empty ZIP archive' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x1f, 0x8b], what: 'gzip-compressed data' },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: 'a PDF document' },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: 'an ELF binary' },
  { bytes: [0x80, 0x02], what: 'a Python pickle' },
  { bytes: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], what: 'a NumPy array' },
];

/** Enough bytes for any field header: a tag (up to 10 bytes) and a varint or a length (up to 10). */
const HEADER_BYTES = 20;

/**
 * The most a sub-message that is parsed in one piece (a graph input, an opset, an external_data
 * entry) may take. Real ones are well under a kilobyte; a larger one is refused rather than
 * buffered.
 */
const MAX_BUFFERED_MESSAGE_BYTES = 4 * 1024 * 1024;

type FieldHandler = (tag: Tag, end: number) => boolean;
type MaybeAsyncFieldHandler = (tag: Tag, end: number) => boolean | Promise<boolean>;

/**
 * A protobuf wire-format walker over a BufferedByteReader. It never reads a length-delimited field
 * it is told to skip, and it enforces the limits on every step.
 *
 * The walk is synchronous over bytes already in the reader's window and waits only to refill it:
 * the messages that hold weights (ModelProto, GraphProto, TensorProto) are walked field by field
 * (`walk`, `message`), a promise appearing only where a header or a name is not in the window; the
 * small messages the signature is made of (a ValueInfoProto, an OperatorSetIdProto, an
 * external_data entry) are fetched whole if need be (`bufferedMessage`) and parsed in one go
 * (`messageSync`, `walkSync`). Handlers answer `true`/`false` (handled or to skip) at once, or a
 * promise of it when they had to wait. Counters for new limits belong in `tag` (fields),
 * `retain` (kept bytes), `addInitializer` (tensors) and `tensorType` (rank).
 */
/** One decoder for every read (building one costs more than decoding a tensor name). */
const UTF8 = new TextDecoder('utf-8');

/** The longest string decoded by hand when it is plain ASCII. */
const ASCII_FAST_PATH_BYTES = 128;

/**
 * UTF-8 bytes as a string, exactly as `TextDecoder('utf-8')` decodes them. Tensor, graph and
 * producer names are short ASCII, which is copied code unit by code unit: TextDecoder's fixed cost
 * per call is most of a small model's signature read. Anything else (a non-ASCII byte, a BOM,
 * a long string) goes to the decoder.
 */
export function decodeText(bytes: Uint8Array): string {
  const n = bytes.byteLength;
  if (n > ASCII_FAST_PATH_BYTES) return UTF8.decode(bytes);
  let out = '';
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return UTF8.decode(bytes);
    out += String.fromCharCode(b);
  }
  return out;
}

class ProtoWalker {
  private fields = 0;
  private retained = 0;
  depth = 0;
  constructor(
    private readonly r: BufferedByteReader,
    readonly limits: OnnxReadLimits,
  ) {}

  get position(): number {
    return this.r.position;
  }

  /** A structural problem: at the top level it means the file is not ONNX at all. */
  malformed(message: string, offset: number): OnnxFormatError {
    return new OnnxFormatError(
      this.depth === 0 ? `not an ONNX model (${message})` : `malformed ONNX model: ${message}`,
      { offset },
    );
  }

  private overrun(what: string, start: number, end: number): OnnxFormatError {
    if (end >= this.r.size) {
      return new OnnxFormatError(
        `truncated at byte ${this.r.size}: ${what} starting at byte ${start} runs past the end of the file`,
        { offset: this.r.size },
      );
    }
    return this.malformed(`${what} at byte ${start} runs past the end of its message at byte ${end}`, start);
  }

  // --- synchronous primitives: the bytes they read are in the window ----------------------------

  /**
   * A varint of up to 7 bytes (49 bits, exact in a double) as a number; undefined, with the
   * position unchanged, for a longer one (or one that does not end), which `varint` then reads.
   * Tags, lengths and dims take this path: no bigint on the common case.
   */
  private smallVarint(end: number): number | undefined {
    const avail = Math.min(7, end - this.r.position, this.r.available);
    let value = 0;
    let scale = 1;
    for (let i = 0; i < avail; i++) {
      const b = this.r.byteAt(i);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        this.r.skip(i + 1);
        return value;
      }
      scale *= 128;
    }
    return undefined;
  }

  varint(end: number): bigint {
    const small = this.smallVarint(end);
    if (small !== undefined) return BigInt(small);
    const start = this.r.position;
    const avail = Math.min(10, end - start, this.r.available);
    let big = 0n;
    for (let i = 0; i < avail; i++) {
      const b = this.r.byteAt(i);
      // The 10th byte carries bit 63 only; more, or a continuation bit, is not a 64-bit varint.
      if (i === 9 && b > 1) throw this.malformed(`varint at byte ${start} overflows 64 bits`, start);
      big |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        this.r.skip(i + 1);
        return big;
      }
    }
    throw this.overrun('a varint', start, end);
  }

  /** A varint that must be a non-negative safe integer (a length, a version, a dim). */
  uint(end: number, what: string): number {
    const small = this.smallVarint(end);
    if (small !== undefined) return small;
    const start = this.r.position;
    const v = this.varint(end);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.malformed(`${what} at byte ${start} is out of range (${BigInt.asIntN(64, v)})`, start);
    }
    return Number(v);
  }

  private tag(end: number): Tag | null {
    const offset = this.r.position;
    if (offset >= end) return null;
    this.fields += 1;
    if (this.fields > this.limits.maxFields) {
      throw new OnnxFormatError(
        `more than ${this.limits.maxFields} protobuf fields at byte ${offset}; refusing to walk further`,
        { offset },
      );
    }
    let value = this.smallVarint(end);
    if (value === undefined) {
      const raw = this.varint(end);
      if (raw > 0xffffffffn) throw this.malformed(`field tag at byte ${offset} is out of range`, offset);
      value = Number(raw);
    }
    if (value > 0xffffffff) throw this.malformed(`field tag at byte ${offset} is out of range`, offset);
    const field = Math.floor(value / 8);
    const wireType = value % 8;
    if (wireType === 3 || wireType === 4) {
      throw this.malformed(
        `protobuf groups (wire type ${wireType}) at byte ${offset} are not supported`,
        offset,
      );
    }
    if (wireType > 5) throw this.malformed(`invalid wire type ${wireType} at byte ${offset}`, offset);
    if (field === 0) throw this.malformed(`invalid field number 0 at byte ${offset}`, offset);
    return { field, wireType, offset };
  }

  /** Reads a length prefix and returns where the field's payload ends. */
  private length(end: number): number {
    const start = this.r.position;
    const len = this.uint(end, 'a length');
    const payloadStart = this.r.position;
    if (len > this.r.size - payloadStart) {
      throw new OnnxFormatError(
        `declared length ${len} exceeds file size (${this.r.size} bytes; field at byte ${start})`,
        { offset: start },
      );
    }
    if (payloadStart + len > end) {
      throw this.malformed(
        `declared length ${len} at byte ${start} runs past the end of its message at byte ${end}`,
        start,
      );
    }
    return payloadStart + len;
  }

  expectWire(tag: Tag, wireType: number, what: string): void {
    if (tag.wireType !== wireType) {
      throw this.malformed(
        `${what} (field ${tag.field}) at byte ${tag.offset} has wire type ${WIRE_NAMES[tag.wireType]}, expected ${WIRE_NAMES[wireType]}`,
        tag.offset,
      );
    }
  }

  /** Skips a field whose header is in the window; a length-delimited payload is never read. */
  private skipField(tag: Tag, end: number): void {
    const start = this.r.position;
    switch (tag.wireType) {
      case WIRE_VARINT:
        this.varint(end);
        return;
      case WIRE_I64:
      case WIRE_I32: {
        const n = tag.wireType === WIRE_I64 ? 8 : 4;
        if (end - start < n) throw this.overrun(`a fixed${n * 8} value`, start, end);
        this.r.skip(n);
        return;
      }
      case WIRE_LEN: {
        const payloadEnd = this.length(end);
        this.r.skip(payloadEnd - this.r.position);
        return;
      }
      default:
        throw this.malformed(`invalid wire type ${tag.wireType} at byte ${tag.offset}`, tag.offset);
    }
  }

  /** Counts what the signature keeps (names, dims), so memory stays bounded whatever the file says. */
  retain(bytes: number, offset: number): void {
    this.retained += bytes;
    if (this.retained > this.limits.maxRetainedBytes) {
      throw new OnnxFormatError(
        `names and dims total more than ${this.limits.maxRetainedBytes} bytes at byte ${offset}; refusing to keep more`,
        { offset },
      );
    }
  }

  /** Length, size limit and retained count of a kept string; returns its length. */
  private stringHead(tag: Tag, end: number, what: string): { len: number; lengthAt: number } {
    this.expectWire(tag, WIRE_LEN, what);
    const lengthAt = this.r.position;
    const payloadEnd = this.length(end);
    const len = payloadEnd - this.r.position;
    if (len > this.limits.maxStringBytes) {
      throw new OnnxFormatError(
        `${what} at byte ${lengthAt} is ${len} bytes, over the ${this.limits.maxStringBytes}-byte limit for a name`,
        { offset: lengthAt },
      );
    }
    this.retain(len, lengthAt);
    return { len, lengthAt };
  }

  /** A kept string inside a buffered message. */
  string(tag: Tag, end: number, what: string): string {
    const { len, lengthAt } = this.stringHead(tag, end, what);
    if (this.r.available < len) throw this.overrun(what, lengthAt, end);
    return decodeText(this.r.take(len));
  }

  /**
   * A kept string in a message walked field by field: the string at once when its bytes are in
   * the window, a promise of it after a refill otherwise.
   */
  stringMaybe(tag: Tag, end: number, what: string): string | Promise<string> {
    const { len, lengthAt } = this.stringHead(tag, end, what);
    if (this.r.available >= len) return decodeText(this.r.take(len));
    return this.r.fill(len).then(() => {
      if (this.r.available < len) throw this.overrun(what, lengthAt, end);
      return decodeText(this.r.take(len));
    });
  }

  private enter(tag: Tag, end: number, what: string): number {
    this.expectWire(tag, WIRE_LEN, what);
    const subEnd = this.length(end);
    this.depth += 1;
    if (this.depth > this.limits.maxDepth) {
      throw new OnnxFormatError(`nesting deeper than ${this.limits.maxDepth} at byte ${tag.offset}`, {
        offset: tag.offset,
      });
    }
    return subEnd;
  }

  /** A sub-message inside a buffered one: walked without awaiting. */
  messageSync(tag: Tag, end: number, what: string, onField: FieldHandler): void {
    const subEnd = this.enter(tag, end, what);
    this.walkSync(subEnd, onField);
    this.depth -= 1;
  }

  /**
   * A small sub-message of a message walked field by field: fetched whole if it is not in the
   * window, then walked in one go.
   */
  bufferedMessage(tag: Tag, end: number, what: string, onField: FieldHandler): true | Promise<boolean> {
    const subEnd = this.enter(tag, end, what);
    const len = subEnd - this.r.position;
    if (len > MAX_BUFFERED_MESSAGE_BYTES) {
      throw new OnnxFormatError(
        `${what} at byte ${tag.offset} is ${len} bytes, over the ${MAX_BUFFERED_MESSAGE_BYTES}-byte limit for it`,
        { offset: tag.offset },
      );
    }
    if (this.r.available >= len) {
      this.walkSync(subEnd, onField);
      this.depth -= 1;
      return true;
    }
    return this.r.fill(len).then(() => {
      this.walkSync(subEnd, onField);
      this.depth -= 1;
      return true;
    });
  }

  /** A sub-message that may hold weights: walked field by field, awaiting only to refill. */
  message(tag: Tag, end: number, what: string, onField: MaybeAsyncFieldHandler): true | Promise<boolean> {
    const subEnd = this.enter(tag, end, what);
    const walked = this.walk(subEnd, onField);
    if (walked === undefined) {
      this.depth -= 1;
      return true;
    }
    return walked.then(() => {
      this.depth -= 1;
      return true;
    });
  }

  /** Walks the fields up to `end`, all in the window; fields `onField` does not handle are skipped. */
  walkSync(end: number, onField: FieldHandler): void {
    for (;;) {
      const tag = this.tag(end);
      if (tag === null) return;
      if (!onField(tag, end)) this.skipField(tag, end);
    }
  }

  /**
   * Walks the fields up to `end`, synchronously while each header is in the window and each
   * handler answers at once; it returns a promise only when it had to wait (a refill), and then
   * carries on from there.
   */
  walk(end: number, onField: MaybeAsyncFieldHandler): undefined | Promise<void> {
    for (;;) {
      if (this.r.position >= end) return undefined;
      if (this.r.available < Math.min(HEADER_BYTES, end - this.r.position)) {
        return this.r.fill(Math.min(HEADER_BYTES, end - this.r.position)).then(() => this.walk(end, onField));
      }
      const tag = this.tag(end) as Tag;
      const handled = onField(tag, end);
      if (handled === true) continue;
      if (handled === false) {
        this.skipField(tag, end);
        continue;
      }
      return handled.then((h) => {
        if (!h) this.skipField(tag, end);
        return this.walk(end, onField);
      });
    }
  }
}

interface ValueInfo {
  name: string;
  kind: OnnxValueKind;
  elemType: number;
  dims: number[];
  rankKnown: boolean;
}

interface TensorHead {
  name: string;
  external: boolean;
  location: string | undefined;
}

class OnnxSignatureParser {
  irVersion: number | undefined;
  readonly opsets: { domain: string; version: number }[] = [];
  producerName: string | undefined;
  producerVersion: string | undefined;
  graphSeen = false;
  graphName: string | undefined;
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializerNames = new Set<string>();
  /** Graph inputs seen so far that are not initializers. */
  realInputs = 0;
  readonly externalData: { tensor: string; location: string }[] = [];

  constructor(private readonly w: ProtoWalker) {}

  model(end: number): undefined | Promise<void> {
    const w = this.w;
    let first = true;
    return w.walk(end, (tag, e) => {
      const expected = MODEL_FIELDS.get(tag.field);
      if (first && expected === undefined) {
        throw w.malformed(
          `the first field, number ${tag.field} at byte ${tag.offset}, is not a ModelProto field`,
          0,
        );
      }
      first = false;
      if (expected !== undefined) w.expectWire(tag, expected, `ModelProto field ${tag.field}`);
      switch (tag.field) {
        case 1:
          this.irVersion = w.uint(e, 'ir_version');
          return true;
        case 2:
          return settle(w.stringMaybe(tag, e, 'producer_name'), (v) => {
            this.producerName = v;
          });
        case 3:
          return settle(w.stringMaybe(tag, e, 'producer_version'), (v) => {
            this.producerVersion = v;
          });
        case 7:
          this.graphSeen = true;
          return w.message(tag, e, 'graph', (t, ge) => this.graph(t, ge));
        case 8:
          return w.bufferedMessage(tag, e, 'opset_import', this.opset());
        default:
          return false;
      }
    });
  }

  /** The fields of one OperatorSetIdProto; the entry is added when its message ends. */
  private opset(): FieldHandler {
    const w = this.w;
    const entry = { domain: '', version: 0 };
    this.opsets.push(entry);
    return (t, e) => {
      if (t.field === 1) {
        entry.domain = w.string(t, e, 'opset domain');
        return true;
      }
      if (t.field === 2) {
        w.expectWire(t, WIRE_VARINT, 'opset version');
        entry.version = w.uint(e, 'opset version');
        return true;
      }
      return false;
    };
  }

  private graph(tag: Tag, end: number): boolean | Promise<boolean> {
    const w = this.w;
    switch (tag.field) {
      case 2:
        return settle(w.stringMaybe(tag, end, 'graph name'), (v) => {
          this.graphName = v;
        });
      case 5:
        return this.tensorHead(tag, end, 'initializer');
      case 15:
        // SparseTensorProto: the name is that of its `values` tensor (field 1).
        return w.message(tag, end, 'sparse_initializer', (t, e) =>
          t.field === 1 ? this.tensorHead(t, e, 'sparse_initializer values') : false,
        );
      case 11:
      case 12: {
        const info = emptyValueInfo();
        const isInput = tag.field === 11;
        (isInput ? this.inputs : this.outputs).push(info);
        const what = isInput ? 'graph input' : 'graph output';
        const counted = () => {
          // Initializers come first in a serialized graph, so an input named after one is not real.
          if (isInput && !this.initializerNames.has(info.name)) this.realInputs += 1;
          this.checkTensorCount(tag);
          return true;
        };
        const walked = w.bufferedMessage(tag, end, what, this.valueInfo(info, what));
        return walked === true ? counted() : walked.then(counted);
      }
      default:
        return false;
    }
  }

  /** Stops the walk at the first tensor over the limit, before the rest of the list is read. */
  private checkTensorCount(tag: Tag): void {
    const count = this.realInputs + this.outputs.length;
    const max = this.w.limits.maxTensors;
    if (count > max) {
      throw new LimitExceededError('ONNX model', [
        limitIssue(
          'graph',
          'maxTensorsPerModel',
          `more than ${max}`,
          max,
          `the number of graph inputs and outputs (reading stopped at byte ${tag.offset})`,
        ),
      ]);
    }
  }

  private addInitializer(head: TensorHead): void {
    this.initializerNames.add(head.name);
    if (head.external) this.externalData.push({ tensor: head.name, location: head.location ?? '' });
  }

  /** The tensor being read (tensors do not nest) and its external_data entry. */
  private head: TensorHead = { name: '', external: false, location: undefined };
  private entry = { key: '', value: '' };
  private headWhat = '';

  /**
   * The small fields of a TensorProto, added as an initializer once its message ends; raw_data,
   * float_data and the rest are skipped by length. One handler for every tensor: a model has
   * thousands, and the walk allocates nothing per field on its synchronous path.
   */
  private tensorHead(tag: Tag, end: number, what: string): true | Promise<boolean> {
    const head: TensorHead = { name: '', external: false, location: undefined };
    this.head = head;
    this.headWhat = what;
    const walked = this.w.message(tag, end, what, this.tensorField);
    if (walked === true) {
      this.addInitializer(head);
      return true;
    }
    return walked.then(() => {
      this.addInitializer(head);
      return true;
    });
  }

  private readonly tensorField = (t: Tag, e: number): boolean | Promise<boolean> => {
    const w = this.w;
    switch (t.field) {
      case 8: {
        const head = this.head;
        const name = w.stringMaybe(t, e, `${this.headWhat} name`);
        if (typeof name === 'string') {
          head.name = name;
          return true;
        }
        return name.then((v) => {
          head.name = v;
          return true;
        });
      }
      case 13:
        this.entry = { key: '', value: '' };
        return w.bufferedMessage(t, e, 'external_data entry', this.externalDataField);
      case 14:
        w.expectWire(t, WIRE_VARINT, 'data_location');
        this.head.external = w.varint(e) === 1n;
        return true;
      default:
        return false;
    }
  };

  /** One field of an external_data entry; key and value may come in either order. */
  private readonly externalDataField = (kt: Tag, ke: number): boolean => {
    const w = this.w;
    if (kt.field === 1) this.entry.key = w.string(kt, ke, 'external_data key');
    else if (kt.field === 2) this.entry.value = w.string(kt, ke, 'external_data value');
    else return false;
    if (this.entry.key === 'location') this.head.location = this.entry.value;
    return true;
  };

  /** The fields of a ValueInfoProto, filling `info`. */
  private valueInfo(info: ValueInfo, what: string): FieldHandler {
    const w = this.w;
    return (t, e) => {
      if (t.field === 1) {
        info.name = w.string(t, e, `${what} name`);
        return true;
      }
      if (t.field === 2) {
        this.typeProto(t, e, info);
        return true;
      }
      return false;
    };
  }

  /**
   * TypeProto. Sequences and optionals nest TypeProtos without bound, so they are walked (under
   * the depth limit) only to check they are well formed; the signature keeps the outer kind.
   */
  private typeProto(tag: Tag, end: number, info: ValueInfo | undefined): void {
    const w = this.w;
    w.messageSync(tag, end, 'type', (t, e) => {
      switch (t.field) {
        case 1:
        case 8:
          if (info !== undefined) info.kind = t.field === 1 ? 'tensor' : 'sparse_tensor';
          this.tensorType(t, e, info);
          return true;
        case 4:
        case 9:
          if (info !== undefined) info.kind = t.field === 4 ? 'sequence' : 'optional';
          w.messageSync(t, e, t.field === 4 ? 'sequence_type' : 'optional_type', (st, se) => {
            if (st.field !== 1) return false;
            this.typeProto(st, se, undefined);
            return true;
          });
          return true;
        case 5:
          if (info !== undefined) info.kind = 'map';
          w.messageSync(t, e, 'map_type', (mt, me) => {
            if (mt.field !== 2) return false;
            this.typeProto(mt, me, undefined);
            return true;
          });
          return true;
        default:
          return false;
      }
    });
  }

  private tensorType(tag: Tag, end: number, info: ValueInfo | undefined): void {
    const w = this.w;
    w.messageSync(tag, end, 'tensor_type', (t, e) => {
      if (t.field === 1) {
        w.expectWire(t, WIRE_VARINT, 'elem_type');
        const elemType = w.uint(e, 'elem_type');
        if (info !== undefined) info.elemType = elemType;
        return true;
      }
      if (t.field === 2) {
        const dims: number[] = [];
        w.messageSync(t, e, 'shape', (st, se) => {
          if (st.field !== 1) return false;
          if (dims.length >= w.limits.maxRank) {
            throw new LimitExceededError('ONNX model', [
              limitIssue(
                `${info?.name ? `tensor '${escapeUserText(info.name, 80)}'` : 'tensor'}.shape`,
                'maxRank',
                `more than ${w.limits.maxRank}`,
                w.limits.maxRank,
                `the rank (reading stopped at byte ${st.offset})`,
              ),
            ]);
          }
          w.retain(8, st.offset);
          dims.push(this.dimension(st, se));
          return true;
        });
        if (info !== undefined) {
          info.dims = dims;
          info.rankKnown = true;
        }
        return true;
      }
      return false;
    });
  }

  private dimension(tag: Tag, end: number): number {
    const w = this.w;
    let dim = -1;
    w.messageSync(tag, end, 'dim', (t, e) => {
      if (t.field === 1) {
        w.expectWire(t, WIRE_VARINT, 'dim_value');
        const at = t.offset;
        const v = BigInt.asIntN(64, w.varint(e));
        if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw w.malformed(`dim_value ${v} at byte ${at} is not a valid dimension`, at);
        }
        dim = Number(v);
        return true;
      }
      if (t.field === 2) {
        // The name itself is not needed, but reading it checks it against the size limit.
        w.string(t, e, 'dim_param');
        dim = -1;
        return true;
      }
      return false;
    });
    return dim;
  }
}

/** Hands a string to `set` now, or once it has been fetched; answers the field handled. */
function settle(value: string | Promise<string>, set: (value: string) => void): true | Promise<boolean> {
  if (typeof value === 'string') {
    set(value);
    return true;
  }
  return value.then((v) => {
    set(v);
    return true;
  });
}

function emptyValueInfo(): ValueInfo {
  return { name: '', kind: 'unknown', elemType: 0, dims: [], rankKnown: false };
}

function toSignature(info: ValueInfo): TensorSignature {
  const isTensor = info.kind === 'tensor';
  return {
    name: info.name,
    elemType: info.elemType,
    dataType: isTensor ? tritonDataTypeOf(info.elemType) : null,
    dims: info.dims,
    rankKnown: info.rankKnown,
    kind: info.kind,
  };
}

function checkLimits(opts: Partial<OnnxReadLimits> | undefined): OnnxReadLimits {
  const limits = { ...DEFAULT_ONNX_READ_LIMITS, ...opts };
  // A plain loop: on a small model this check was a tenth of the read.
  const issues: ValidationIssue[] = [];
  for (const k in limits) {
    const v = limits[k as keyof OnnxReadLimits];
    if (!Number.isSafeInteger(v) || v < 1) {
      issues.push({ path: k, message: `must be a positive integer, got ${String(v)}` });
    }
  }
  if (limits.windowBytes < 16) issues.push({ path: 'windowBytes', message: 'must be at least 16' });
  if (issues.length > 0) throw new ValidationError('ONNX read limits', issues);
  return limits;
}

async function sniff(reader: BufferedByteReader): Promise<void> {
  if (reader.size === 0) throw new OnnxFormatError('not an ONNX model (empty file)', { offset: 0 });
  const n = await reader.fill(8);
  for (const m of MAGIC) {
    if (m.bytes.length <= n && m.bytes.every((b, i) => reader.byteAt(i) === b)) {
      throw new OnnxFormatError(`not an ONNX model (looks like ${m.what})`, { offset: 0 });
    }
  }
}

/**
 * Reads an ONNX model's signature (IR version, opsets, real inputs, outputs, external data) with a
 * bounded number of small ranged reads: initializers' payloads, nodes, docs and metadata are
 * skipped by length, never fetched, so the cost does not grow with the weights.
 *
 * Throws OnnxFormatError for any file that is not a usable ONNX model (never hangs: every step
 * consumes bytes and the walk is bounded by `limits`), ValidationError for bad `limits`.
 */
export async function readOnnxSignature(
  source: ByteSource,
  opts?: Partial<OnnxReadLimits>,
): Promise<OnnxSignature> {
  const limits = checkLimits(opts);
  const size = await source.size();
  const reader = new BufferedByteReader(source, size, limits.windowBytes);
  await sniff(reader);
  const walker = new ProtoWalker(reader, limits);
  const p = new OnnxSignatureParser(walker);
  await p.model(size);

  if (p.irVersion === undefined) throw new OnnxFormatError('not an ONNX model (no ir_version)');
  if (!p.graphSeen) throw new OnnxFormatError('not an ONNX model (no graph)');
  if (p.opsets.length === 0) throw new OnnxFormatError('invalid ONNX model: no opset_import');
  const inputs = p.inputs.filter((i) => !p.initializerNames.has(i.name));
  const problems: string[] = [];
  if (inputs.length === 0) problems.push('the graph has no inputs (other than initializers)');
  if (p.outputs.length === 0) problems.push('the graph has no outputs');
  for (const [list, what] of [
    [p.inputs, 'input'],
    [p.outputs, 'output'],
  ] as const) {
    list.forEach((v, i) => {
      if (v.name === '') problems.push(`graph ${what} #${i} has no name`);
    });
  }
  if (problems.length > 0) throw new OnnxFormatError(`invalid ONNX model: ${problems.join('; ')}`);

  return {
    irVersion: p.irVersion,
    opsets: p.opsets,
    ...(p.producerName === undefined ? {} : { producerName: p.producerName }),
    ...(p.producerVersion === undefined ? {} : { producerVersion: p.producerVersion }),
    ...(p.graphName === undefined ? {} : { graphName: p.graphName }),
    inputs: inputs.map(toSignature),
    outputs: p.outputs.map(toSignature),
    externalData: p.externalData,
  };
}
