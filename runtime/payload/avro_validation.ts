/**
 * Why a value does not fit an Avro type, in words: used where a value is checked before it is
 * encoded (ctx.emit with avro() at the call, the Schema Registry adapter's encode).
 */
import type avsc from "avsc";

export interface AvroProblems {
  /** Dotted paths of the offending fields ("(the value itself)" for the root). */
  paths: string[];
  /** One line per problem: path, expected type, the value found (shortened). */
  problems: string[];
}

/** Null when `value` is valid for `type`; otherwise at most `limit` problems. */
export function avroProblems(type: avsc.Type, value: unknown, limit = 10): AvroProblems | null {
  const paths: string[] = [];
  const problems: string[] = [];
  const valid = type.isValid(value, {
    errorHook: (path: string[], found: unknown, at: avsc.Type) => {
      if (problems.length >= limit) return;
      const where = path.length === 0 ? "(the value itself)" : path.join(".");
      paths.push(where);
      problems.push(`${where}: expected ${avroTypeName(at)}, got ${previewValue(found)}`);
    },
  });
  return valid ? null : { paths, problems };
}

/** The type's name (records, enums, fixed) or its kind ("long", "array", ...). */
export function avroTypeName(type: avsc.Type): string {
  return type.name ?? type.typeName;
}

/** A value in at most 60 characters, for error messages. */
export function previewValue(value: unknown): string {
  let text: string;
  if (value === undefined) text = "undefined";
  else if (typeof value === "bigint") text = `${value}n`;
  else {
    try {
      text = JSON.stringify(value) ?? typeof value;
    } catch {
      text = `a non-JSON ${typeof value}`;
    }
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
