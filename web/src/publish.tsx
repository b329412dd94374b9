import { soon } from './soon';

soon('publish');
