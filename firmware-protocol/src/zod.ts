// The schemas use zod/mini, whose functions a bundle keeps only as used: the gateway's agent validates with
// them at a fraction of full zod's resident memory (2 MB less, measured). Messages are in English wherever
// the protocol is checked (full zod sets this itself; zod/mini does not). Import it as a namespace
// (`import * as z`), so that a bundle can still leave out what is not used.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
