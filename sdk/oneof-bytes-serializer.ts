import * as grpc from '@grpc/grpc-js';

/**
 * Request serializers for streams that carry ciphertexts or update values: messages whose only
 * field is a oneof (`content` unless named), most of them one large bytes case (a 213 kB ciphertext). The generated encoder
 * writes those into a buffer it grows by doubling (zero-filled), slices it and copies it again
 * into a Buffer — four copies and a 512 kB allocation per ciphertext, on streams that move every
 * member's upload to the coordinator and then to each keyholder. Here a bytes case is one
 * allocation and one copy, byte for byte the protobuf encoding (tag, length varint, bytes);
 * every other case goes to the generated encoder.
 */
export function oneofBytesSerializer<T extends object>(
  bytesFields: Readonly<Record<string, number>>,
  encode: (message: T) => Buffer,
  oneof = 'content',
): (message: T) => Buffer {
  for (const field of Object.values(bytesFields))
    if (!Number.isInteger(field) || field < 1 || field > 15)
      throw new RangeError('oneofBytesSerializer takes field numbers 1–15 (one-byte tags)');
  return (message) => {
    const content = (message as Record<string, { $case: string; value: unknown } | undefined>)[
      oneof
    ];
    const field = content === undefined ? undefined : bytesFields[content.$case];
    if (field === undefined || !(content!.value instanceof Uint8Array)) return encode(message);
    const value = content!.value;
    let length = value.length;
    let lengthBytes = 1;
    while (length >= 0x80) {
      length = Math.floor(length / 0x80);
      lengthBytes++;
    }
    const out = Buffer.allocUnsafe(1 + lengthBytes + value.length);
    out[0] = (field << 3) | 2;
    let at = 1;
    for (length = value.length; length >= 0x80; length = Math.floor(length / 0x80))
      out[at++] = (length % 0x80) | 0x80;
    out[at++] = length;
    out.set(value, at);
    return out;
  };
}

/**
 * A client class for `service` whose listed methods serialize requests with
 * `oneofBytesSerializer` (bytes case → field number), falling back to the generated serializer;
 * otherwise the generated client's behaviour.
 */
export function clientWithBytesSerializers<Client>(
  service: grpc.ServiceDefinition,
  serviceName: string,
  methods: Readonly<Record<string, Readonly<Record<string, number>>>>,
  oneof = 'content',
): Client {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...service };
  for (const [name, bytesFields] of Object.entries(methods)) {
    const method = service[name];
    if (!method) throw new Error(`${serviceName} has no method ${name}`);
    definition[name] = {
      ...method,
      requestSerialize: oneofBytesSerializer(bytesFields, method.requestSerialize, oneof),
    };
  }
  return grpc.makeGenericClientConstructor(definition, serviceName) as unknown as Client;
}
