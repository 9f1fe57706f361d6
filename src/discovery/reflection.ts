/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) served from the real descriptors
 * that protobuf-es embeds in gen/: the same FileDescriptorProtos buf compiled, snake_case field
 * names and json names included. So grpcurl or `buf curl` can call the services with
 * `{"user_id": ...}` without any .proto file.
 *
 * (A reflection service fed by @grpc/proto-loader would serve camelCase field names unless
 * told keepCase, and clients sending the proto's own names would be refused.)
 */
import { create, type DescFile, type DescMessage, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ServiceImpl } from '@connectrpc/connect';
import {
  ErrorResponseSchema,
  ExtensionNumberResponseSchema,
  FileDescriptorResponseSchema,
  ListServiceResponseSchema,
  ServerReflection,
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from '../../gen/grpc/reflection/v1/reflection_pb.js';
import {
  ServerReflection as ServerReflectionV1Alpha,
  ServerReflectionRequestSchema as V1AlphaRequestSchema,
  ServerReflectionResponseSchema as V1AlphaResponseSchema,
} from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

/** What reflection knows: the served service names and the files that describe them. */
export interface ReflectionIndex {
  /** Fully-qualified names of the served services. */
  readonly services: readonly string[];
  /** Answers one reflection request. */
  answer(request: ServerReflectionRequest): ServerReflectionResponse;
}

/**
 * Indexes the given files and, transitively, their imports. `services` are the services the
 * server actually serves (each must be described by one of the files).
 */
export function createReflectionIndex(
  files: readonly DescFile[],
  services: readonly string[],
): ReflectionIndex {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const encoded = new Map<DescFile, Uint8Array>();

  const addMessage = (file: DescFile, message: DescMessage) => {
    bySymbol.set(message.typeName, file);
    for (const field of message.fields) bySymbol.set(`${message.typeName}.${field.name}`, file);
    for (const nested of message.nestedMessages) addMessage(file, nested);
    for (const nested of message.nestedEnums) bySymbol.set(nested.typeName, file);
    for (const ext of message.nestedExtensions)
      addExtension(file, ext.typeName, ext.extendee.typeName, ext.number);
  };
  const addExtension = (file: DescFile, typeName: string, extendee: string, number: number) => {
    bySymbol.set(typeName, file);
    let numbers = extensions.get(extendee);
    if (!numbers) {
      numbers = new Map();
      extensions.set(extendee, numbers);
    }
    numbers.set(number, file);
  };
  const addFile = (file: DescFile) => {
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    for (const dep of file.dependencies) addFile(dep);
    for (const message of file.messages) addMessage(file, message);
    for (const en of file.enums) bySymbol.set(en.typeName, file);
    for (const ext of file.extensions) addExtension(file, ext.typeName, ext.extendee.typeName, ext.number);
    for (const service of file.services) {
      bySymbol.set(service.typeName, file);
      for (const method of service.methods) bySymbol.set(`${service.typeName}.${method.name}`, file);
    }
  };
  for (const file of files) addFile(file);
  for (const service of services) {
    if (!bySymbol.has(service)) throw new Error(`reflection: no descriptor describes service ${service}`);
  }

  const bytesOf = (file: DescFile) => {
    let bytes = encoded.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file, bytes);
    }
    return bytes;
  };
  /** The file first, then its imports, each once. */
  const withDependencies = (file: DescFile): Uint8Array[] => {
    const seen = new Set<DescFile>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(bytesOf(f));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  };

  const notFound = (message: string): ServerReflectionResponse['messageResponse'] => ({
    case: 'errorResponse',
    value: create(ErrorResponseSchema, {
      errorCode: Code.NotFound,
      errorMessage: message,
    }),
  });
  const fileAnswer = (
    file: DescFile | undefined,
    what: string,
  ): ServerReflectionResponse['messageResponse'] =>
    file
      ? {
          case: 'fileDescriptorResponse',
          value: create(FileDescriptorResponseSchema, {
            fileDescriptorProto: withDependencies(file),
          }),
        }
      : notFound(`${what} not found`);

  const listed = services.map((name) => ({ name }));

  return {
    services,
    answer(request) {
      const r = request.messageRequest;
      let messageResponse: ServerReflectionResponse['messageResponse'];
      switch (r.case) {
        case 'fileByFilename':
          messageResponse = fileAnswer(byName.get(r.value), `file ${r.value}`);
          break;
        case 'fileContainingSymbol':
          messageResponse = fileAnswer(bySymbol.get(r.value.replace(/^\./, '')), `symbol ${r.value}`);
          break;
        case 'fileContainingExtension': {
          const file = extensions.get(r.value.containingType)?.get(r.value.extensionNumber);
          messageResponse = fileAnswer(
            file,
            `extension ${r.value.containingType}/${r.value.extensionNumber}`,
          );
          break;
        }
        case 'allExtensionNumbersOfType':
          messageResponse = bySymbol.has(r.value)
            ? {
                case: 'allExtensionNumbersResponse',
                value: create(ExtensionNumberResponseSchema, {
                  baseTypeName: r.value,
                  extensionNumber: [...(extensions.get(r.value)?.keys() ?? [])],
                }),
              }
            : notFound(`type ${r.value} not found`);
          break;
        case 'listServices':
          messageResponse = {
            case: 'listServicesResponse',
            value: create(ListServiceResponseSchema, {
              service: listed,
            }),
          };
          break;
        default:
          messageResponse = {
            case: 'errorResponse',
            value: create(ErrorResponseSchema, {
              errorCode: Code.InvalidArgument,
              errorMessage: 'empty reflection request',
            }),
          };
      }
      return create(ServerReflectionResponseSchema, {
        validHost: request.host,
        originalRequest: request,
        messageResponse,
      });
    },
  };
}

/** The grpc.reflection.v1 service. */
export function reflectionV1(index: ReflectionIndex): ServiceImpl<typeof ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) yield index.answer(request);
    },
  };
}

/** The grpc.reflection.v1alpha service: the same messages on the wire, under the old package. */
export function reflectionV1Alpha(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1Alpha> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(V1AlphaRequestSchema, request));
        yield fromBinary(V1AlphaResponseSchema, toBinary(ServerReflectionResponseSchema, index.answer(v1)));
      }
    },
  };
}

/** Names of both reflection services, to list them among the served services. */
export const REFLECTION_SERVICES = [ServerReflection.typeName, ServerReflectionV1Alpha.typeName] as const;
