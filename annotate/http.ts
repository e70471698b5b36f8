/** HTTP errors of the annotate server: a status and one line for the page to show. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
