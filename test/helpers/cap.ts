// An enveloped XML signature over a whole CAP alert, as a warning agency's system would make it (xml-crypto),
// for the CAP tests and the emergency benchmark.
import { SignedXml } from 'xml-crypto';

export function signCap(xml: string, privateKeyPem: string): string {
  const sig = new SignedXml({
    privateKey: privateKeyPem,
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  });
  sig.addReference({
    xpath: "/*[local-name(.)='alert']",
    isEmptyUri: true,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  });
  sig.computeSignature(xml, { location: { reference: "/*[local-name(.)='alert']", action: 'append' } });
  return sig.getSignedXml();
}
