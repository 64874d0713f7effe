import { setup } from './temp-root.ts';

export default setup;
