// Boundary checks for the crypto core, in the spirit of noble's `abytes` / `anumber`:
// every public function checks its inputs here and fails with a message that names the input.

export class CryptoInputError extends Error {
  override name = 'CryptoInputError';
}

export function assertBytes(
  value: unknown,
  name: string,
  length?: number,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoInputError(`${name} must be a Uint8Array, got ${describe(value)}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new CryptoInputError(`${name} must be ${length} bytes long, got ${value.length}`);
  }
}

export function assertInteger(
  value: unknown,
  name: string,
  min: number = Number.MIN_SAFE_INTEGER,
  max: number = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new CryptoInputError(`${name} must be a safe integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new CryptoInputError(`${name} must be in [${min}, ${max}], got ${value}`);
  }
}

export function assertFinite(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CryptoInputError(`${name} must be a finite number, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  switch (typeof value) {
    case 'object':
      return value === null ? 'null' : (value.constructor?.name ?? 'object');
    case 'string':
      return `string "${value.slice(0, 40)}"`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${value}`;
    default:
      return typeof value;
  }
}
