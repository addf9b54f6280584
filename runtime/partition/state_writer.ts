import { RESERVED_STATE_PREFIX } from "../../sdk/definitions.js";
import { encodeChangelogKey } from "../codec/changelog_key.js";
import { codecs } from "../codec/records.js";
import type { CommitSink } from "../commit/sink.js";
import type { StateOverlay } from "../journal/context_impl.js";
import { objectId, type PartitionState } from "./state.js";

/**
 * Writes object state: into the partition's in-memory state and, as `["st", …]` records, into
 * the changelog batch, together. The one place that does, for handlers' writes (applied when
 * an invocation succeeds, or at once for a workflow run) and the runtime's own `$kvo.*` values
 * (a workflow's outcome and durable promises).
 */
export class StateWriter {
  constructor(
    private readonly partition: number,
    private readonly state: PartitionState,
    private readonly sink: CommitSink,
  ) {}

  /** Applies a handler's writes. clearAll leaves the runtime's `$kvo.*` names alone. */
  apply(target: string, key: string, overlay: Pick<StateOverlay, "writes" | "clearedAll">): void {
    const id = objectId(target, key);
    if (overlay.clearedAll) {
      const names = this.state.objects.get(id);
      if (names) {
        for (const name of [...names.keys()]) {
          if (name.startsWith(RESERVED_STATE_PREFIX) || overlay.writes.has(name)) continue;
          this.writeOf(id, target, key, name, null);
        }
      }
    }
    for (const [name, value] of overlay.writes) this.writeOf(id, target, key, name, value);
  }

  /** Writes one value (null: deletes it). */
  write(target: string, key: string, name: string, value: Buffer | null): void {
    this.writeOf(objectId(target, key), target, key, name, value);
  }

  /** write() of the object `id` names (objectId(target, key), computed once per apply). */
  private writeOf(id: string, target: string, key: string, name: string, value: Buffer | null): void {
    let names = this.state.objects.get(id);
    const changelogKey = encodeChangelogKey({ type: "st", object: target, key, name });
    if (value === null) {
      names?.delete(name);
      if (names && names.size === 0) this.state.objects.delete(id);
      this.sink.putChangelog(this.partition, changelogKey, null);
      return;
    }
    if (!names) this.state.objects.set(id, (names = new Map<string, Buffer>()));
    names.set(name, value);
    this.sink.putChangelog(this.partition, changelogKey, codecs.stateValue.encode({ value }));
  }

  read(target: string, key: string, name: string): Buffer | undefined {
    return this.state.objectState(target, key)?.get(name);
  }
}
