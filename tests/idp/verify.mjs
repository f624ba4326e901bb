// Verifies an access token with an independent validator: `jose`'s
// jwtVerify against a remote JWKS.
//
//   node verify.mjs <jwks url> <issuer> <audience> <token>
//
// Prints the verified payload as JSON, or the error and exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
  });
  console.log(JSON.stringify({ payload, header: protectedHeader }));
} catch (e) {
  console.log(JSON.stringify({ error: e.code || String(e) }));
  process.exit(1);
}
