/**
 * A stand-in for the app's mail provider: it logs the mail as one JSON line. A real one
 * passes `idempotencyKey` to the provider, so an attempt re-run after a lost result does not
 * send twice.
 */
export async function sendMail(mail: {
  readonly to: string;
  readonly template: string;
  readonly idempotencyKey: string;
}): Promise<void> {
  console.log(JSON.stringify({ mailed: mail }));
}
