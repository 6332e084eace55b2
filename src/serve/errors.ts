// The server's refusals: an HTTP status, a stable machine-readable code and a message, answered as
// JSON `{ "error": { "code", "message" } }` (one shape for every error, ours or fastify's).

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After on 503). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/**
 * fastify's own error codes (body limit, content type, multipart limits) as our status and code; an
 * error fastify does not name is a 500 unless it carries a 4xx statusCode of its own.
 */
export function fromFrameworkError(e: Error & { code?: string; statusCode?: number }): HttpError {
  if (e instanceof HttpError) return e;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new HttpError(413, 'body_too_large', e.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', e.message);
    case 'FST_ERR_CTP_EMPTY_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_PROTO_VIOLATION':
      return new HttpError(400, 'bad_request', e.message);
  }
  const status = e.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new HttpError(status, 'bad_request', e.message);
  return new HttpError(500, 'internal', e.message);
}
