import { Ajv, type Options } from "ajv";
import addFormatsModule from "ajv-formats";
import type { FastifyInstance } from "fastify";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const shared: Options = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false };

/**
 * Two validators: JSON bodies are checked as sent (a number is not silently accepted where a
 * string is required), while query strings and path parameters, which are always text on the
 * wire, are coerced to the declared types.
 */
export function registerValidation(app: FastifyInstance): void {
  const bodyAjv = new Ajv({ ...shared, coerceTypes: false });
  const textAjv = new Ajv({ ...shared, coerceTypes: "array" });
  addFormats(bodyAjv);
  addFormats(textAjv);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === "body" ? bodyAjv.compile(schema) : textAjv.compile(schema),
  );
}
