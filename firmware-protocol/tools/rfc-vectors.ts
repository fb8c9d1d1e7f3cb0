// Independent vectors: published by the RFCs the envelope rests on ([P-4.2]), not made by this code. A vendor
// checks its Ed25519 and its canonical JSON against them before our own vectors; the test suite checks ours.

/** RFC 8032 §7.1, Ed25519 TEST 1–3: a 32-byte secret seed, its public key, a message and the signature. */
export const RFC8032_ED25519 = [
  {
    name: 'RFC 8032 7.1 TEST 1',
    secretKeyHex: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKeyHex: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    messageHex: '',
    signatureHex:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'RFC 8032 7.1 TEST 2',
    secretKeyHex: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKeyHex: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    messageHex: '72',
    signatureHex:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'RFC 8032 7.1 TEST 3',
    secretKeyHex: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKeyHex: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    messageHex: 'af82',
    signatureHex:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

/**
 * RFC 8785 (JCS): the examples of §3.2.2 (escaping, numbers, literals) and §3.2.3 (members sorted by UTF-16
 * code units, so U+1F600 as a surrogate pair comes before U+FB33), and number forms of Appendix B. `input` is
 * JSON text as received; `canonical` is the UTF-8 text its canonical form must be, byte for byte.
 */
export const RFC8785_JCS = [
  {
    name: 'RFC 8785 3.2.2 (strings, numbers, literals)',
    input:
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    canonical:
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  },
  {
    name: 'RFC 8785 3.2.3 (sorting by UTF-16 code units)',
    input:
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    canonical:
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  },
  {
    name: 'RFC 8785 Appendix B (number forms)',
    input: '[0, -0, 5e-324, 1.7976931348623157e308, 9007199254740992, 1e21, 999999999999999900000, 0.000001, 1e-7, -1.5]',
    canonical: '[0,0,5e-324,1.7976931348623157e+308,9007199254740992,1e+21,999999999999999900000,0.000001,1e-7,-1.5]',
  },
];

export function rfcVectorFiles(): Record<string, string> {
  return {
    'rfc8032-ed25519.json': `${JSON.stringify(RFC8032_ED25519, null, 2)}\n`,
    'rfc8785-jcs.json': `${JSON.stringify(RFC8785_JCS, null, 2)}\n`,
  };
}
